"""`Image.run_function`: a Python function run in a build container, its changes kept as a layer.

The step's spec holds the function's *identity* (source, arguments, the globals it references:
what decides a rebuild) and, apart from that identity, its cloudpickled payload and a token for
the volumes / network file systems it mounts while it runs (`_image_specs.data_mounts_of`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from modal._image_specs import _add_gpu, _check_secrets, _invalid, _remember_data_mounts

if TYPE_CHECKING:
    from modal.image import Image


def run_function(
    image: Image,
    raw_f: Callable[..., Any],
    *,
    secrets: Sequence[Any],
    gpu: Any,
    mounts: Sequence[Any],
    volumes: dict[Any, Any],
    network_file_systems: dict[Any, Any],
    cpu: float | None,
    memory: int | None,
    timeout: int | None,
    force_build: bool,
    args: Sequence[Any],
    kwargs: dict[str, Any],
) -> Image:
    """`image` plus a run_function step (the arguments of `Image.run_function`, validated)."""
    if not callable(raw_f):
        raise _invalid(f"Image.run_function: raw_f must be a function, got {type(raw_f).__name__}")
    if mounts:
        raise _invalid("Image.run_function: mounts= is not supported; add files with "
                       "Image.add_local_dir(..., copy=True) before run_function")
    _check_data_mounts(volumes, network_file_systems)
    if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
        raise _invalid("Image.run_function: args must be a sequence and kwargs a dict")
    for name, value in (("cpu", cpu), ("memory", memory)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise _invalid(f"Image.run_function: {name} must be a positive number, got {value!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or timeout <= 0):
        raise _invalid(f"Image.run_function: timeout must be a positive number of seconds, got {timeout!r}")
    spec: dict[str, Any] = _function_identity(raw_f, tuple(args), dict(kwargs))
    if volumes or network_file_systems:  # looked up when the image is built; not its identity
        _remember_data_mounts(spec, volumes, network_file_systems)
    if timeout is not None:
        spec["timeout"] = timeout
    _add_gpu(spec, gpu, "run_function")
    spec["_payload"] = _function_payload(raw_f, tuple(args), dict(kwargs))
    return image._extend("run_function", spec, force_build, _check_secrets("run_function", list(secrets)))


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
