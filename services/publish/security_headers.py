"""Security headers on every answer of the read API and its pages (issue 13, docs/security.md).

The pages run no script at all, so the Content-Security-Policy allows none (no inline script, no
``eval``, no plug-ins), styles only from the site's own stylesheet, and nothing framed or framing.
JSON and feed answers get the same policy: a browser that opens one as a document runs nothing.
A pure ASGI middleware (no per-request task, unlike ``BaseHTTPMiddleware``), so headers are added
to streamed and error answers alike.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'; object-src 'none'"
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Feeds and the JSON API are meant to be read by other sites' readers and apps: cross-origin.
    "Cross-Origin-Resource-Policy": "cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
}


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every HTTP answer that does not set its own value.
    ``Strict-Transport-Security`` only when the request came over HTTPS (a TLS proxy in front
    sets the scheme): on plain HTTP it would be ignored, and on loopback it would be wrong."""

    def __init__(self, app: ASGIApp, hsts_max_age_s: int = 31_536_000) -> None:
        self.app = app
        self.hsts = f"max-age={hsts_max_age_s}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                wanted = dict(SECURITY_HEADERS)
                if https:
                    wanted["Strict-Transport-Security"] = self.hsts
                for name, value in wanted.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
