"""Image intake, face and person detection, templates, matching and redaction (no database access here)."""
