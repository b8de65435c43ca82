"""JSONata dialect placeholder (filled in below)."""
