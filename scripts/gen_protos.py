"""Compiles protos/ into gen/ (Python modules, .pyi stubs, gRPC stubs); run by `make setup`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    src = ROOT / "protos"
    out = ROOT / "gen"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    # protos/google/ holds vendored imports (google.type.Date) that googleapis-common-protos already provides.
    protos = sorted(str(p.relative_to(src)) for p in (src / "kaohe").rglob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    args = [
        "protoc",
        f"-I{src}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
    ]
    plugin = shutil.which("protoc-gen-mypy_grpc", path=str(Path(sys.executable).parent))
    if plugin:
        args += [f"--plugin=protoc-gen-mypy_grpc={plugin}", f"--mypy_grpc_out={out}"]
    code = protoc.main([*args, *protos])
    if code != 0:
        return int(code)
    for folder in [out / "kaohe", *(p for p in (out / "kaohe").rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
        (folder / "py.typed").touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
