"""mediamon: connectors."""
