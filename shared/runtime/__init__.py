"""Process-level runtime: embedded servers, the supervisor behind `newsroom up`."""
