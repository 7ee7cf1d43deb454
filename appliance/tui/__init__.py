"""The terminal UI: views over the CLI's functions (see app.py)."""
