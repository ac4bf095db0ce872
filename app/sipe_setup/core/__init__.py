"""Everything that is not a window. Never imports Qt (a test enforces it)."""
