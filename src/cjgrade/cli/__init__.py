"""Command-line edges: parse, call, print. No business logic here."""
