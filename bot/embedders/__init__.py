"""Embedder plugins shipped with paperbot (entry points ``paperbot.embedders``)."""
