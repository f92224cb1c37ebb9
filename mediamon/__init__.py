"""mediamon: mediamon."""
