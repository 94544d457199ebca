"""One error family, rendered by one handler as JSON for the API and as a page for HTML.

Every error body has one shape::

    {"detail": "a sentence a person understands",
     "errors": [{"field": ..., "network": ..., "message": ...}]}
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.logging import get_logger
from app.security import security_headers

log = get_logger("almanac.errors")


class AppError(Exception):
    status_code = 400

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers


class NotFound(AppError):
    status_code = 404


class Forbidden(AppError):
    status_code = 403


class Conflict(AppError):
    status_code = 409


class PreconditionFailed(AppError):
    status_code = 412


class Invalid(AppError):
    status_code = 422


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def _render(
    request: Request,
    status: int,
    detail: str,
    errors: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> Response:
    if _wants_html(request):
        return request.app.state.templates.TemplateResponse(
            request,
            "error.html",
            {"status": status, "detail": detail, "errors": errors},
            status_code=status,
            headers=headers,
        )
    return JSONResponse({"detail": detail, "errors": errors}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        if 300 <= exc.status_code < 400:  # e.g. SignInRequired: a redirect, no body
            return Response(status_code=exc.status_code, headers=exc.headers)
        return _render(request, exc.status_code, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):  # type: ignore[no-untyped-def]
        errors = [
            {
                "field": ".".join(
                    str(part) for part in err["loc"] if part not in ("body", "query", "path")
                ),
                "network": None,
                "message": err["msg"],
            }
            for err in exc.errors()
        ]
        return _render(request, 422, "Some fields are not valid.", errors)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", path=request.url.path, method=request.method)
        # Starlette sends this from its outermost middleware, past SecurityMiddleware.
        headers = {
            name.decode(): value.decode() for name, value in security_headers(request.url.path)
        }
        return _render(
            request, 500, "Something went wrong on our side; it has been logged.", [], headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):  # type: ignore[no-untyped-def]
        detail = exc.detail if isinstance(exc.detail, str) else "Request refused."
        if exc.status_code == 404 and detail == "Not Found":
            detail = "Nothing here."
        return _render(request, exc.status_code, detail, [], getattr(exc, "headers", None))
