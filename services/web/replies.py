"""What a console view reads of a request and answers with, over Starlette's own Request and Response.

A view is `view(gw, session, request) -> Response` on a Starlette Request whose form the app has already read
(see app.py): `form_of(request)` is its text fields, `files_of(request)` its files (spooled to disk by
python-multipart, never held whole in memory).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Refused(Exception):
    """Ends a request with a status and a message for people (an error page, or JSON under /api/)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def part(value: object) -> str:
    """An id as one path segment or query value: every character but letters, digits and _.-~ encoded."""
    return quote(str(value), safe="")


def page(body: str, status: int = 200) -> Response:
    return HTMLResponse(body, status)


def redirect(path: str, **params: str) -> Response:
    """See other: a path of ours, with its query (a message for the next page) percent-encoded."""
    # "%" kept: a path may carry an id already encoded as one segment.
    location = quote(path, safe="/%") + (f"?{urlencode(params)}" if params else "")
    return Response(status_code=303, headers={"Location": location})


def as_json(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status)


def _disposition(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}


def download(data: bytes, filename: str, content_type: str) -> Response:
    return Response(data, 200, headers=_disposition(filename), media_type=content_type)


def streamed(pieces: Iterator[bytes], *, length: int, filename: str, content_type: str) -> Response:
    """A large download passed on piece by piece, its length told up front, never held whole."""
    headers = {**_disposition(filename), "Content-Length": str(length)}
    return StreamingResponse(pieces, 200, headers=headers, media_type=content_type)


def is_https(request: Request) -> bool:
    """Reached over TLS, directly or through a trusted proxy (uvicorn reads its X-Forwarded-Proto)."""
    return request.url.scheme == "https"


def set_cookie(
    response: Response, request: Request, name: str, value: str, *, max_age: int | None = None
) -> None:
    """A session-grade cookie: HttpOnly, SameSite=Strict, Secure under TLS."""
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=is_https(request), httponly=True, samesite="strict"
    )


def _formdata(request: Request) -> FormData:
    found = getattr(request.state, "form", None)
    return found if isinstance(found, FormData) else FormData()


def form_of(request: Request) -> dict[str, str]:
    """The form's text fields (the first of each name), read by the app before the view ran."""
    out: dict[str, str] = {}
    for name, value in _formdata(request).multi_items():
        if isinstance(value, str) and name not in out:
            out[name] = value
    return out


def form_all(request: Request, name: str) -> list[str]:
    """Every value given for one field (a multiple select, repeated checkboxes)."""
    return [v for v in _formdata(request).getlist(name) if isinstance(v, str)]


def files_of(request: Request) -> dict[str, UploadFile]:
    """The form's files by field name (each spooled to a temporary file, read in pieces)."""
    return {name: v for name, v in _formdata(request).multi_items() if isinstance(v, UploadFile)}


def pieces_of(upload: UploadFile, size: int) -> Iterator[bytes]:
    """An uploaded file in pieces of size bytes, read from its spool (never the whole file in memory)."""
    upload.file.seek(0)
    while piece := upload.file.read(size):
        yield piece
