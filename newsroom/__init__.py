"""AI Newsroom's composition root: the `newsroom` command wires the services together."""
