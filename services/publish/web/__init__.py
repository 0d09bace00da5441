"""Server-rendered web page of the wire: Jinja2 templates (autoescaped) and one static stylesheet."""
