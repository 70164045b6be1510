"""Which local source files a container needs: the modules that define the app's functions,
plus local modules they import (not installed packages), placed under /root as importable."""

from __future__ import annotations

import inspect
import os
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MAX_FILES = 2000


def module_location(obj: Any) -> tuple[str, str, Path | None]:
    """(module name to import in the container, qualname, local file) for a function or class."""
    module_name = obj.__module__
    try:
        file = Path(inspect.getfile(obj)).resolve()
    except (TypeError, OSError):
        file = None
    if module_name == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        module_name = spec.name if spec is not None and spec.name != "__main__" else (file.stem if file else "__main__")
    return module_name, obj.__qualname__, file


def needs_serialization(obj: Any) -> bool:
    module_name, qualname, file = module_location(obj)
    return "<locals>" in qualname or file is None or module_name == "__main__" or not file.exists()


def _installed_roots() -> list[Path]:
    roots = {Path(p).resolve() for k, p in sysconfig.get_paths().items() if k in ("stdlib", "purelib", "platlib")}
    roots.add(Path(sys.prefix).resolve())
    roots.add(Path(sys.base_prefix).resolve())
    return sorted(roots)


def _package_root(module_name: str, file: Path) -> tuple[Path, Path]:
    """(directory to mirror, its path relative to /root) for a module file."""
    depth = module_name.count(".")
    if file.name == "__init__.py":
        depth += 1
    base = file.parent
    for _ in range(depth):
        base = base.parent
    top = module_name.split(".")[0]
    if depth == 0:
        return file, Path(file.name)
    return base / top, Path(top)


def collect(objects: Iterable[Any]) -> dict[str, Path]:
    """Container path -> local file for every source file the given functions/classes need."""
    installed = _installed_roots()
    out: dict[str, Path] = {}
    dirs: set[Path] = set()
    for obj in objects:
        module_name, _, file = module_location(obj)
        if file is None or not file.exists():
            continue
        src, rel = _package_root(module_name, file)
        _add(src, rel, out)
        dirs.add(file.parent if src.is_file() else src.parent)
    # Local modules imported from the app's directory travel along (automount).
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if not f or name == "__main__" or name.startswith("modal") or name.startswith("nodal"):
            continue
        p = Path(f).resolve()
        if any(p.is_relative_to(r) for r in installed) or not any(p.is_relative_to(d) for d in dirs):
            continue
        if p.suffix != ".py":
            continue
        try:
            src, rel = _package_root(name, p)
        except Exception:  # noqa: BLE001 - an odd module is simply not mounted
            continue
        _add(src, rel, out)
    return out


def _add(src: Path, rel: Path, out: dict[str, Path]) -> None:
    if src.is_file():
        out[f"/root/{rel.as_posix()}"] = src
        return
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
        for fn in filenames:
            if fn.endswith(".py") and len(out) < MAX_FILES:
                p = Path(dirpath) / fn
                out[f"/root/{(rel / p.relative_to(src)).as_posix()}"] = p
