"""Local HTTP servers that speak the providers' APIs, for wire-level tests through the SDKs."""
