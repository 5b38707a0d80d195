"""The Dockerfile gives the Kubernetes manifests what they run: the image, its entry point, its user."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S = ROOT / "deploy" / "k8s"
DEPLOY_README = ROOT / "deploy" / "README.md"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, rest = whole.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    """The instructions of the last stage (the image that is run)."""
    steps = instructions()
    starts = [i for i, (keyword, _) in enumerate(steps) if keyword == "FROM"]
    return steps[starts[-1] :]


def exec_form(arguments: str) -> list[str]:
    """An instruction's arguments in exec form (a JSON array) or shell form."""
    if arguments.startswith("["):
        return [str(part) for part in json.loads(arguments)]
    return shlex.split(arguments)


def deployments() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc and doc.get("kind") == "Deployment":
                found.append((path.name, doc))
    return found


def containers() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(file, pod spec, container) of every Deployment."""
    return [
        (name, doc["spec"]["template"]["spec"], c)
        for name, doc in deployments()
        for c in doc["spec"]["template"]["spec"]["containers"]
    ]


def test_the_manifests_run_containers() -> None:
    assert {name for name, _, _ in containers()} >= {"gateway.yaml", "tasks.yaml", "scoring.yaml"}


def test_the_image_is_slim_python_3_11() -> None:
    bases = [args.split()[0] for keyword, args in instructions() if keyword == "FROM"]
    assert bases, "the Dockerfile has no FROM"
    assert all(base == "python:3.11-slim" for base in bases), bases


def test_the_entry_point_is_kaohe() -> None:
    entry = [args for keyword, args in final_stage() if keyword == "ENTRYPOINT"]
    assert entry, "the image names no ENTRYPOINT"
    assert exec_form(entry[-1]) == ["kaohe"]


def test_the_image_runs_as_the_manifests_non_root_user() -> None:
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users, "the image would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid not in {"0", "root"}
    for name, pod, _ in containers():
        context = pod.get("securityContext", {})
        assert context.get("runAsNonRoot") is True, name
        # Kubernetes can only prove a user is not root from a numeric id.
        assert str(context.get("runAsUser")) == uid, f"{name}: runAsUser vs. the image's USER {uid}"
        if gid:
            assert str(context.get("runAsGroup")) == gid, f"{name}: runAsGroup vs. the image's USER"


def test_protos_are_generated_at_build_time() -> None:
    runs = " ".join(args for keyword, args in instructions() if keyword == "RUN")
    assert "grpcio-tools" in runs
    assert "scripts/gen_protos.py" in runs


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = {line.strip().strip("/") for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()}
    assert {".venv", "var", "gen", ".git", "__pycache__", ".pytest_cache", ".mypy_cache"} <= ignored
    copied = " ".join(args for keyword, args in instructions() if keyword == "COPY")
    for needed in ("pyproject.toml", "protos", "scripts", "services", "schemes"):
        assert needed in copied, f"the image is built without {needed}"
        assert needed not in ignored, f".dockerignore leaves out {needed}"


def documented_tags() -> set[str]:
    """The tags deploy/README.md and the Dockerfile tell people to build (`docker build -t TAG`)."""
    text = DEPLOY_README.read_text(encoding="utf-8") + DOCKERFILE.read_text(encoding="utf-8")
    return set(re.findall(r"docker build (?:[^\n]*?)-t\s+(\S+)", text))


def test_the_manifests_image_is_the_documented_tag() -> None:
    tags = documented_tags()
    assert tags, "deploy/README.md does not say how to build the image"
    for name, _, container in containers():
        assert container["image"] in tags, f"{name}: {container['image']} is not built by {sorted(tags)}"


def cli_parser() -> Any:
    # Imported here, not at the top: collecting the deploy checks needs no generated protos.
    from services.cli import main

    return main.parser()


@pytest.mark.parametrize("name", ["gateway.yaml", "tasks.yaml", "scoring.yaml"])
def test_the_manifests_command_is_a_kaohe_subcommand(name: str) -> None:
    (container,) = [c for file, _, c in containers() if file == name]
    # The image's ENTRYPOINT is kaohe: a manifest gives arguments only, never its own command.
    assert "command" not in container, f"{name} overrides the image's entry point"
    args = [str(a) for a in container["args"]]
    parsed = cli_parser().parse_args(args)
    assert parsed.command == "serve-one"
    assert parsed.service == name.removesuffix(".yaml")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert parsed.port == ports["grpc"]
    assert parsed.metrics_port == ports["metrics"]


def test_a_bad_subcommand_would_be_caught() -> None:
    with pytest.raises(SystemExit) as refused:
        cli_parser().parse_args(["serve-won", "tasks"])
    assert refused.value.code == 2
