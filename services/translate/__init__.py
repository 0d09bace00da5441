"""The translate service."""
