"""The argument checks and spec helpers every `modal.Image` method shares.

A build step is `Step(kind, spec)`: each method validates its arguments (bad input is an
`InvalidError` naming the method) and records them in canonical form, because the spec is
the step's identity on the server. The concept modules beside this one (`_image_python`,
`_image_dockerfile`, `_image_registry`, `_image_local`, `_image_run_function`) build their
specs with these helpers.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from nodal.images.local_files import LocalFiles, LocalFilesError, ignore_fn

# run_function's volumes / network file systems, by the token in its step's spec (this process)
_DATA_MOUNTS: dict[str, tuple[dict, dict]] = {}


def _remember_data_mounts(spec: dict, volumes: dict, network_file_systems: dict) -> None:
    """Keep a run_function step's mounts out of its identity: the spec carries only a token."""
    token = f"{id(spec):x}-{len(_DATA_MOUNTS)}"
    _DATA_MOUNTS[token] = (dict(volumes), dict(network_file_systems))
    spec["_data_mounts"] = token


def data_mounts_of(spec: dict) -> tuple[dict, dict] | None:
    """(volumes, network_file_systems) of a run_function step's spec, if it has any."""
    token = spec.get("_data_mounts")
    return _DATA_MOUNTS.get(token) if isinstance(token, str) else None


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
    """remote path -> local file of an `add_local_*` entry, read now (missing files: InvalidError)."""
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


def _check_secrets(method: str, secrets: Sequence[Any]) -> list[Any]:
    from modal.secret import Secret

    secrets = list(secrets or [])
    for s in secrets:
        if not isinstance(s, Secret):
            raise _invalid(f"Image.{method}: secrets must be modal.Secret objects, got {type(s).__name__}")
    return secrets
