"""How `modal.Image` methods turn their arguments into step specs: validation, reading local
inputs (requirements files, .dockerignore), and the identity of `run_function`'s function.

Kept apart from `image.py` so that file holds the `Image` API itself."""

from __future__ import annotations

import os
import posixpath
import sys
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from nodal.images.local_files import FilePatternMatcher, LocalFiles, LocalFilesError, ignore_fn

# run_function's volumes / network file systems, by the token in its step's spec (this process)
_DATA_MOUNTS: dict[str, tuple[dict, dict]] = {}


def _check_data_mounts(volumes: Any, network_file_systems: Any) -> None:
    """run_function's volumes= / network_file_systems=: dicts of absolute path -> the right object."""
    from modal.network_file_system import NetworkFileSystem
    from modal.volume import Volume

    for name, given, kind in (("volumes", volumes, Volume), ("network_file_systems", network_file_systems,
                                                             NetworkFileSystem)):
        if not isinstance(given, dict):
            raise _invalid(f"Image.run_function: {name} must be a dict of mount path -> {kind.__name__}")
        for path, obj in given.items():
            if not isinstance(obj, kind):
                raise _invalid(f"Image.run_function: {name}[{str(path)!r}] must be a modal.{kind.__name__}, "
                               f"not {type(obj).__name__}")
            if not str(path).startswith("/") or str(path).rstrip("/") in ("", "/root", "/tmp"):
                raise _invalid(f"Image.run_function: {name} mount path {str(path)!r} must be an absolute path "
                               "other than /, /root and /tmp")


def data_mounts_of(spec: dict) -> tuple[dict, dict] | None:
    """(volumes, network_file_systems) of a run_function step's spec, if it has any."""
    token = spec.get("_data_mounts")
    return _DATA_MOUNTS.get(token) if isinstance(token, str) else None
MICROMAMBA_IMAGE = "mambaorg/micromamba:2.0.5"
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def _invalid(message: str) -> Exception:
    from modal.exception import InvalidError

    return InvalidError(message)


def _force_build_default() -> bool:
    """MODAL_FORCE_BUILD=1 (or the `force_build` config setting) forces every step to rebuild."""
    try:
        from modal.config import config

        return bool(config.get("force_build"))
    except (ImportError, KeyError, ValueError):
        return os.environ.get("MODAL_FORCE_BUILD", "").lower() in ("1", "true", "yes", "on")


def _flatten(method: str, items: Sequence[str | list[str]], what: str) -> list[str]:
    """Modal accepts both `f("a", "b")` and `f(["a", "b"])`: flatten and type-check."""
    flat: list[str] = []
    for item in items:
        if isinstance(item, (list, tuple)):
            for sub in item:
                if not isinstance(sub, str):
                    raise _invalid(
                        f"Image.{method}: {what} must be strings, got {type(sub).__name__} {sub!r}"
                    )
                flat.append(sub)
        elif isinstance(item, str):
            flat.append(item)
        else:
            raise _invalid(
                f"Image.{method}: {what} must be strings or lists of strings, "
                f"got {type(item).__name__} {item!r}"
            )
    return flat


def _read_local(entry: LocalFiles) -> dict[str, Path]:
    try:
        return {"/" + posixpath.normpath(remote).lstrip("/"): local for remote, local in entry.files().items()}
    except (LocalFilesError, OSError) as exc:
        raise _invalid(str(exc)) from None


def _absolute_remote(method: str, remote_path: Any) -> str:
    if not isinstance(remote_path, (str, PurePosixPath)) or not str(remote_path):
        raise _invalid(f"Image.{method}: remote_path must be a non-empty string, got {remote_path!r}")
    remote = str(remote_path)
    if not remote.startswith("/"):
        raise _invalid(f"Image.{method}: remote_path must be absolute (start with '/'), got {remote!r}")
    return remote


def _ignore(method: str, ignore: Any) -> Callable[[Path], bool]:
    try:
        return ignore_fn(ignore, method)
    except LocalFilesError as exc:
        raise _invalid(str(exc)) from None


def _read_requirements(path: Path, seen: set[Path]) -> tuple[list[str], list[str]]:
    """Packages and option lines of a requirements file (`-r` files included, comments dropped)."""
    if path.resolve() in seen:
        return [], []
    seen.add(path.resolve())
    try:
        text = path.read_text()
    except OSError as exc:
        raise _invalid(f"Image.pip_install_from_requirements: cannot read {str(path)!r}: {exc}") from None
    packages: list[str] = []
    options: list[str] = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = " ".join(raw.split(" #")[0].split()) if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        for flag in ("-r", "--requirement"):
            if line.startswith(flag + " ") or line.startswith(flag + "="):
                nested = path.parent / line[len(flag) + 1 :].strip()
                more, opts = _read_requirements(nested, seen)
                packages += more
                options += opts
                break
        else:
            if line.startswith(("-c", "--constraint")):
                raise _invalid(
                    f"Image.pip_install_from_requirements: constraints files ({line!r}) are not supported"
                )
            (options if line.startswith("-") else packages).append(line)
    return packages, options


def _dockerignore(context: Path, ignore: Any, method: str) -> Callable[[Path], bool] | None:
    """`ignore` as a predicate; by default the context directory's `.dockerignore`, if any."""
    if ignore is None:
        auto = context / ".dockerignore"
        return FilePatternMatcher.from_file(auto) if auto.is_file() else None
    return _ignore(method, ignore)


def _add_gpu(spec: dict, gpu: Any, method: str) -> None:
    """Validate a build step's `gpu=` and record its canonical form (it changes the step identity)."""
    if gpu is None:
        return
    from modal._validation import parse_gpu

    try:
        canonical = parse_gpu(gpu)
    except Exception as exc:  # parse_gpu raises InvalidError; keep the method in the message
        raise _invalid(f"Image.{method}: {exc}") from None
    if canonical:
        spec["gpu"] = str(canonical)


def _function_identity(fn: Callable[..., Any], args: tuple, kwargs: dict) -> dict[str, Any]:
    """What decides whether a run_function layer is rebuilt: source, arguments, referenced globals."""
    import hashlib
    import inspect
    import textwrap
    import types

    import cloudpickle

    def digest(value: Any) -> str:
        if isinstance(value, types.ModuleType):
            return "module:" + value.__name__
        if isinstance(value, (types.FunctionType, type)):
            try:
                return "source:" + hashlib.sha256(inspect.getsource(value).encode()).hexdigest()
            except (OSError, TypeError):
                return "name:" + getattr(value, "__qualname__", repr(value))
        try:
            return hashlib.sha256(cloudpickle.dumps(value)).hexdigest()
        except Exception:  # noqa: BLE001 - unpicklable globals are caught by _function_payload
            return "type:" + type(value).__name__

    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        source = ""
    code = getattr(fn, "__code__", None)
    fn_globals = getattr(fn, "__globals__", {})
    names = sorted(set(code.co_names) & set(fn_globals)) if code is not None else []
    try:
        call = hashlib.sha256(cloudpickle.dumps((args, kwargs))).hexdigest()
    except Exception as exc:
        raise _invalid(f"Image.run_function: args/kwargs cannot be pickled: {exc}") from None
    identity: dict[str, Any] = {
        "function": getattr(fn, "__qualname__", getattr(fn, "__name__", "function")),
        "source_sha256": hashlib.sha256(source.encode()).hexdigest() if source else "",
        "globals": {name: digest(fn_globals[name]) for name in names},
        "args_sha256": call,
    }
    if not source:  # no source (a lambda in a REPL, a builtin): fall back on the pickled code
        identity["code_sha256"] = hashlib.sha256(_function_payload(fn, (), {}).encode()).hexdigest()
    return identity


def _function_payload(fn: Callable[..., Any], args: tuple, kwargs: dict) -> str:
    """base64 of cloudpickle((fn, args, kwargs)), the function's module pickled by value."""
    import base64

    import cloudpickle

    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    by_value = module is not None and module.__name__ not in ("__main__", "builtins") and not _is_installed(module)
    if by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        data = cloudpickle.dumps((fn, args, kwargs))
    except Exception as exc:
        raise _invalid(f"Image.run_function: cannot pickle {getattr(fn, '__qualname__', fn)!r}: {exc}") from None
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)
    return base64.b64encode(data).decode("ascii")


def _is_installed(module: Any) -> bool:
    """True for modules from site-packages / the stdlib (imported by reference in the container)."""
    import sysconfig

    file = getattr(module, "__file__", None) or ""
    roots = {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib")}
    return not file or any(file.startswith(r) for r in roots) or module.__name__.split(".")[0] in ("modal", "nodal")


def _check_secrets(method: str, secrets: Sequence[Any]) -> list[Any]:
    from modal.secret import Secret

    secrets = list(secrets or [])
    for s in secrets:
        if not isinstance(s, Secret):
            raise _invalid(f"Image.{method}: secrets must be modal.Secret objects, got {type(s).__name__}")
    return secrets
