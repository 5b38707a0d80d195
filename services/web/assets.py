"""The console's static files: its styles, scripts and icon, and the vendored libraries under vendor/."""

from __future__ import annotations

from pathlib import Path

from services.web.http import HttpError, Request, Response

STATIC = Path(__file__).resolve().parent / "static"
TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


def favicon(request: Request) -> Response:
    """What a browser asks for before it reads a page's <link rel=icon>."""
    request.params = {"a": "favicon.svg"}
    return static(request)


def static(request: Request) -> Response:
    """/static/{a} or /static/vendor/{a}/{b}: a file of a known type inside static/, cached for an hour."""
    relative = "/".join(request.params[k] for k in ("a", "b") if k in request.params)
    if "vendor/" not in request.path:
        path = (STATIC / relative).resolve()
    else:
        path = (STATIC / "vendor" / relative).resolve()
    if STATIC not in path.parents or not path.is_file() or path.suffix not in TYPES:
        raise HttpError(404, "没有这个文件")
    response = Response(path.read_bytes(), 200, TYPES[path.suffix])
    response.headers.append(("Cache-Control", "public, max-age=3600"))
    return response
