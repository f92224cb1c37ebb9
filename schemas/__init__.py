"""mediamon: schemas."""
