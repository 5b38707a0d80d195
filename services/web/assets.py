"""The console's static files: its styles, scripts and icon, and the vendored libraries under vendor/."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
# Kept an hour by browsers (every other answer of the console is no-store).
CACHED = "public, max-age=3600"


class Static(StaticFiles):
    """static/ (vendor/ included), each file kept an hour by the browser."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC)

    def file_response(self, full_path: str | os.PathLike[str], *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(full_path, *args, **kwargs)
        response.headers["Cache-Control"] = CACHED
        return response


def favicon(request: Request) -> Response:
    """What a browser asks for before it reads a page's <link rel=icon>."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml", headers={"Cache-Control": CACHED})
