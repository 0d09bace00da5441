"""AI Newsroom's shared package: contracts, settings, adapters and the pure core used by every service."""
