"""The console stands on maintained parts: Starlette/FastAPI for HTTP, routing and forms, Jinja2 for HTML,
authlib for OIDC. Nothing in services/web builds its own again; no page is HTML in a Python string."""

from __future__ import annotations

import ast
import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "services" / "web"
# What a home-made HTTP toolkit, router, cookie store, multipart parser or OIDC client would import.
HOME_MADE = {"wsgiref", "http.cookies", "http.server", "email.parser", "a2wsgi", "urllib.request", "cgi"}
TAG = re.compile(r"<\s*/?\s*[a-zA-Z!][a-zA-Z0-9]*[\s>/]")


def modules() -> list[Path]:
    return sorted(WEB.glob("*.py"))


def test_the_console_imports_no_home_made_web_infrastructure() -> None:
    found = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [f"{path.name}: {n}" for n in names if n in HOME_MADE or n.split(".")[0] == "a2wsgi"]
    assert not found


def test_no_page_is_html_in_a_python_string() -> None:
    """Every string literal of services/web (f-strings' text too) is free of markup: pages are templates."""
    found = []
    for path in modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) and id(node) not in docstrings else None
            if isinstance(text, str) and TAG.search(text):
                found.append(f"{path.name}: {text[:60]!r}")
    assert not found, "\n".join(found)


def test_the_templates_escape_what_they_show() -> None:
    """Autoescape is on for every page, and no template switches it off or marks outside text safe."""
    from services.web.templating import ENV

    assert ENV.autoescape is not False and ENV.select_template(["base.html"]) is not None
    for template in (WEB / "templates").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "autoescape false" not in text and "|safe" not in text.replace(" ", ""), template
