"""Adapters: the I/O edges (HTTP fetching, ...) behind small interfaces the services call."""
