"""Loading the user's code for the CLI: `file.py[::name]` or `package.module[::name]`.

A file is imported as a module named after its stem, with its directory first on
`sys.path` (so its sibling imports work, and so the containers can import it by the same
name); `__name__` is that stem, never "__main__", so a `if __name__ == "__main__":` block
does not run. What to run or deploy is then found among the module's globals.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from modal.exception import ExecutionError, _CliUserExecutionError

_DOTTED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class ImportRef:
    file_or_module: str
    object_path: str  # "" when the reference names no object
    is_module: bool


def parse_import_ref(ref: str, *, force_module: bool = False) -> ImportRef:
    """Split `file.py::obj`, `file.py:obj`, `pkg.mod::obj` (or the same without an object)."""
    ref = ref.strip()
    if not ref:
        raise click.UsageError("Expected a file (app.py) or module (-m pkg.app), optionally with ::name")
    if "::" in ref:
        target, _, obj = ref.partition("::")
    elif not force_module and re.match(r"^.+\.py:[^:/\\]+$", ref):
        target, _, obj = ref.rpartition(":")  # `file.py:obj`, an older spelling
    else:
        target, obj = ref, ""
    if not target:
        raise click.UsageError(f"No file or module in {ref!r}; expected e.g. app.py::{obj or 'main'}")
    if force_module:
        is_module = True
    elif target.endswith(".py") or os.sep in target or "/" in target or os.path.exists(target):
        is_module = False
    else:
        is_module = bool(_DOTTED_NAME.match(target))
    return ImportRef(target, obj, is_module)


def _import_file(path_text: str) -> types.ModuleType:
    path = Path(path_text).expanduser()
    if not path.exists():
        raise click.UsageError(f"File not found: {path_text}")
    if path.is_dir():
        raise click.UsageError(
            f"{path_text} is a directory; give a Python file (app.py) or a module (-m pkg.app)"
        )
    path = path.resolve()
    name = path.stem
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise click.UsageError(f"{path_text} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        if previous is not None:
            sys.modules[name] = previous
        else:
            sys.modules.pop(name, None)
        raise _CliUserExecutionError(str(path)) from exc
    return module


def _import_module(name: str) -> types.ModuleType:
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        found = None
    except Exception as exc:  # a parent package failed while importing
        raise _CliUserExecutionError(name) from exc
    if found is None:
        raise click.UsageError(f"No module named {name!r} (looked on sys.path, starting with {cwd})")
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise _CliUserExecutionError(found.origin or name) from exc


def import_file_or_module(ref: ImportRef) -> types.ModuleType:
    """Import the user's code; their errors come back as `_CliUserExecutionError`."""
    return _import_module(ref.file_or_module) if ref.is_module else _import_file(ref.file_or_module)


# ---------------------------------------------------------------- what to run


@dataclass
class Runnable:
    """Something `modal run` can call: a local entrypoint, a function, or a class method."""

    kind: str  # "local entrypoint" | "function" | "class method"
    name: str  # entrypoint or function tag, or "Cls.method"
    app: Any  # modal.App
    target: Any  # LocalEntrypoint | Function | Cls
    raw_f: Callable[..., Any]  # the user's Python function (its signature gives the CLI options)
    method: str = ""  # for class methods

    @property
    def is_generator(self) -> bool:
        if self.kind == "function":
            return bool(getattr(self.target, "is_generator", False))
        if self.kind == "class method":
            return self.method in self.target._generator_methods()
        return False


def find_apps(module: types.ModuleType) -> dict[str, Any]:
    """The module's `modal.App` globals by variable name (an app bound to two names counted once)."""
    from modal.app import App

    apps: dict[str, Any] = {}
    seen: set[int] = set()
    for var, value in vars(module).items():
        if isinstance(value, App) and id(value) not in seen:
            seen.add(id(value))
            apps[var] = value
    return apps


def _class_methods(cls_obj: Any) -> dict[str, Callable[..., Any]]:
    from modal.cls import user_methods

    user_cls = getattr(cls_obj, "_user_cls", None)
    return user_methods(user_cls) if user_cls is not None else {}


def app_runnables(app: Any) -> list[Runnable]:
    out = [
        Runnable("local entrypoint", tag, app, ep, ep.raw_f) for tag, ep in app.registered_entrypoints.items()
    ]
    for tag, fn in app.registered_functions.items():
        try:
            raw = fn.get_raw_f()
        except ExecutionError:  # looked up by name: its code is not here to run
            continue
        out.append(Runnable("function", tag, app, fn, raw))
    for cls_name, cls_obj in app.registered_classes.items():
        for method, raw in _class_methods(cls_obj).items():
            out.append(Runnable("class method", f"{cls_name}.{method}", app, cls_obj, raw, method))
    return out


def _registry_size(app: Any) -> int:
    return len(app.registered_functions) + len(app.registered_classes) + len(app.registered_entrypoints)


def all_runnables(apps: Iterable[Any]) -> list[Runnable]:
    """Every runnable of the apps, once each. An object in several apps (`app.include`) is run
    with the largest of them: the one that included the others."""
    best: dict[tuple[int, str], Runnable] = {}
    order: list[tuple[int, str]] = []
    for app in sorted(apps, key=_registry_size, reverse=True):
        for r in app_runnables(app):
            key = (id(r.target), r.method)
            if key not in best:
                best[key] = r
                order.append(key)
    return [best[k] for k in order]


def _listing(runnables: list[Runnable]) -> str:
    return "\n".join(f"  * {r.name} ({r.kind})" for r in runnables)


def _choose_error(source: str, runnables: list[Runnable], what: str) -> click.UsageError:
    example = runnables[0].name if runnables else "main"
    return click.UsageError(
        f"{what} Specify which one to run, e.g.\n\n  modal run {source}::{example}\n\n"
        f"Functions and local entrypoints in {source}:\n{_listing(runnables)}"
    )


def _infer(source: str, apps: dict[str, Any], runnables: list[Runnable]) -> Runnable:
    if not apps and not runnables:
        raise click.UsageError(f"No modal.App found in {source}: define one with `app = modal.App()`.")
    entrypoints = [r for r in runnables if r.kind == "local entrypoint"]
    if len(entrypoints) == 1:
        return entrypoints[0]
    if len(entrypoints) > 1:
        raise _choose_error(source, runnables, f"{source} has {len(entrypoints)} local entrypoints.")
    if len(runnables) == 1:
        return runnables[0]
    if not runnables:
        raise click.UsageError(
            f"No functions or local entrypoints found in {source}: decorate one with "
            "`@app.function()` or `@app.local_entrypoint()`."
        )
    raise _choose_error(
        source, runnables, f"{source} has {len(runnables)} functions and no local entrypoint."
    )


def _match(source: str, name: str, runnables: list[Runnable], module: types.ModuleType) -> Runnable:
    # A global variable of the module: `fn = app.function(name="other")(f)` runs as `::fn`.
    obj = getattr(module, name, None) if "." not in name else None
    if obj is not None:
        hits = [r for r in runnables if r.target is obj]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:  # a class: its methods
            raise _choose_error(source, hits, f"{name} is a class with {len(hits)} methods.")
    hits = [r for r in runnables if r.name == name]
    if hits:
        return hits[0]
    # A class by name with one method.
    methods = [r for r in runnables if r.kind == "class method" and r.name.split(".")[0] == name]
    if len(methods) == 1:
        return methods[0]
    if methods:
        raise _choose_error(source, methods, f"{name} is a class with {len(methods)} methods.")
    raise click.UsageError(
        f"{name!r} is not a function, class method or local entrypoint of {source}.\n\n"
        f"Functions and local entrypoints in {source}:\n{_listing(runnables) or '  (none)'}"
    )


def resolve_runnable(module: types.ModuleType, object_path: str, source: str) -> Runnable:
    """What `modal run source[::object_path]` should call.

    `object_path` may name a local entrypoint, a function, `Cls.method` (or a class with a
    single method), or any of them prefixed by the app's variable name (`app.main`), or just
    the app's variable name. Without it: the single local entrypoint, else the single function.
    """
    apps = find_apps(module)
    if object_path:
        head, _, tail = object_path.partition(".")
        if head in apps:
            app_only = all_runnables([apps[head]])
            if not tail:
                return _infer(source, {head: apps[head]}, app_only)
            return _match(source, tail, app_only, module)
        return _match(source, object_path, all_runnables(apps.values()), module)
    return _infer(source, apps, all_runnables(apps.values()))


def resolve_app(module: types.ModuleType, object_path: str, source: str) -> Any:
    """The app `modal deploy source[::app_var]` deploys: the named global, else the single
    App of the module, else the one called `app`."""
    from modal.app import App

    if object_path:
        obj = getattr(module, object_path, None)
        if obj is None:
            raise click.UsageError(f"{source} has no global named {object_path!r}")
        if not isinstance(obj, App):
            raise click.UsageError(f"{object_path} in {source} is a {type(obj).__name__}, not a modal.App")
        return obj
    apps = find_apps(module)
    if len(apps) == 1:
        return next(iter(apps.values()))
    if "app" in apps:
        return apps["app"]
    if not apps:
        raise click.UsageError(f'No modal.App found in {source}: define one with `app = modal.App("name")`.')
    names = "\n".join(f"  * {var}" for var in apps)
    raise click.UsageError(
        f"{source} defines {len(apps)} apps; name the one to deploy, e.g. modal deploy {source}::{next(iter(apps))}"
        f"\n\nApps in {source}:\n{names}"
    )
