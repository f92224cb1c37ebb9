"""mediamon: transforms."""
