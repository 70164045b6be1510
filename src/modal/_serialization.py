"""Arguments, results and exceptions on the wire: cloudpickle, with errors that say what to fix."""

from __future__ import annotations

import io
import pickle
from typing import Any

import cloudpickle

from modal.exception import DeserializationError, SerializationError

_SCALARS = frozenset((int, float, str, bytes, bool, type(None)))


def _plain(obj: Any, depth: int = 0) -> bool:
    """Whether `obj` is plain data (builtin scalars in small builtin containers, exact types only),
    which the standard pickler writes as cloudpickle would, ~7x faster. Anything else, subclasses
    and `__main__` objects included, goes through cloudpickle."""
    t = type(obj)
    if t in _SCALARS:
        return True
    if depth >= 3 or t not in (tuple, list, dict) or len(obj) > 32:
        return False
    if t is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in obj.items())
    return all(_plain(x, depth + 1) for x in obj)


def serialize(obj: Any) -> bytes:
    if _plain(obj):
        return pickle.dumps(obj, protocol=cloudpickle.DEFAULT_PROTOCOL)
    try:
        return cloudpickle.dumps(obj)
    except Exception as exc:
        raise SerializationError(f"could not serialize {type(obj).__name__} object: {exc}") from exc


def serialize_args(args: tuple, kwargs: dict) -> bytes:
    """Pickle a call's arguments; a failure names the argument that can't be sent."""
    if _plain(args, 1) and (not kwargs or _plain(kwargs, 1)):
        return pickle.dumps((args, kwargs), protocol=cloudpickle.DEFAULT_PROTOCOL)
    try:
        return cloudpickle.dumps((args, kwargs))
    except Exception:
        pass
    for i, value in enumerate(args):
        _check_arg(f"positional argument {i}", value)
    for name, value in kwargs.items():
        _check_arg(f"argument {name!r}", value)
    raise SerializationError("could not serialize the call's arguments")


def _check_arg(label: str, value: Any) -> None:
    try:
        cloudpickle.dumps(value)
    except Exception as exc:
        raise SerializationError(
            f"{label} ({type(value).__name__}) cannot be sent to a Modal function: {exc}. "
            "Pass plain data, or an object cloudpickle can serialize."
        ) from None


def deserialize(data: bytes) -> Any:
    try:
        return pickle.loads(data)
    except Exception as exc:
        raise DeserializationError(
            f"could not deserialize data ({exc!r}); the local and remote environments may have "
            "different packages installed"
        ) from exc


def serialize_exception(exc: BaseException) -> bytes:
    """Pickle an exception, or a stand-in with its text when it can't be pickled."""
    try:
        data = cloudpickle.dumps(exc)
        pickle.loads(data)  # some exceptions pickle but can't be rebuilt
        return data
    except Exception:
        buf = io.BytesIO()
        cloudpickle.dump(RuntimeError(f"{type(exc).__name__}: {exc}"), buf)
        return buf.getvalue()
