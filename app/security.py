"""HTTP security middleware: response headers and a same-origin check on writes.

The same-origin check refuses an unsafe request whose ``Origin`` (or, without
one, ``Referer``) names another site than the ``Host`` it was sent to: browsers
always send ``Origin`` on cross-site POSTs, so a forged form post (including a
sign-in CSRF, before any session exists) is refused before it reaches a route.
Bearer-token calls are not browser requests and are not checked.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# No inline scripts or styles anywhere: every page's JS and CSS come from /static.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's interactive docs load Swagger UI / ReDoc with inline bootstrapping.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
    "https://fastapi.tiangolo.com; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


def security_headers(path: str) -> list[tuple[bytes, bytes]]:
    """The headers every response carries (the error handler adds them to 500s, which
    Starlette sends from outside this middleware)."""
    csp = DOCS_CSP if path in DOCS_PATHS else PAGE_CSP
    return [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _origin_host(url: str) -> str | None:
    parts = urlsplit(url)
    return parts.netloc.lower() if parts.scheme in ("http", "https") and parts.netloc else None


class SecurityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope["path"])
        if scope["method"] not in SAFE_METHODS and not self._same_origin(scope):
            await self._refuse(send, extra)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _same_origin(scope: Scope) -> bool:
        authorization = _header(scope, b"authorization") or ""
        if authorization.lower().startswith("bearer "):
            return True
        claimed = _header(scope, b"origin") or _header(scope, b"referer")
        if claimed is None:
            # Non-browser clients send neither; the CSRF token still guards cookies.
            return True
        # An opaque origin ("null", e.g. a sandboxed frame) has no host: refused.
        host = (_header(scope, b"host") or "").lower()
        return _origin_host(claimed) == host

    @staticmethod
    async def _refuse(send: Send, extra: list[tuple[bytes, bytes]]) -> None:
        body = json.dumps(
            {
                "detail": "Cross-site request refused: this form was not sent from Almanac.",
                "errors": [],
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
