"""Paper sources: clients that fetch papers from upstream services."""
