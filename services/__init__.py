"""One FastStream app per stage; each runs as its own process."""
