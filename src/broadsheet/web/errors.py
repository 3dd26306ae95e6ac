"""One place that turns errors into an HTML error page or a JSON error, never a 200."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from broadsheet.errors import BroadsheetError
from broadsheet.web.deps import render

TITLES = {
    400: "Bad request",
    401: "Sign in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Bad request",
    429: "Too many requests",
    500: "Something went wrong",
}


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/") or request.url.path.endswith(".json"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(request: Request, status: int, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    context = {"status": status, "title": TITLES.get(status, "Error"), "message": message}
    return render(request, "error.html", context, status_code=status)


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()) if part not in ("query", "body", "path"))
        parts.append(f"{where or 'input'}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid input"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BroadsheetError)
    async def _broadsheet_error(request: Request, error: BroadsheetError) -> Response:
        return error_response(request, error.status, error.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> Response:
        return error_response(request, 400, _validation_message(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> Response:
        message = str(error.detail) if error.status_code != 404 else "There is no page at this address."
        response = error_response(request, error.status_code, message)
        if error.headers:
            response.headers.update(error.headers)
        return response
