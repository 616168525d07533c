"""The API's answers as JSON, and its one error body, whatever the status:
`{"error": {"status": 413, "message": "..."}}` (`schemas/error.schema.json`)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["ApiError", "error_response", "json_response"]


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def error_response(error: ApiError) -> Response:
    body = {"error": {"status": error.status, "message": error.message}}
    return json_response(body, error.status, error.headers)
