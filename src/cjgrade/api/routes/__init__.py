"""One router per resource; each protected route carries exactly one RoleGuard."""
