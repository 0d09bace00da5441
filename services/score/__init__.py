"""The score service."""
