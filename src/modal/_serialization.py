"""Arguments, results and exceptions on the wire: cloudpickle, with errors that say what to fix."""

from __future__ import annotations

import io
import pickle
from typing import Any

import cloudpickle

from modal.exception import DeserializationError, SerializationError


def serialize(obj: Any) -> bytes:
    try:
        return cloudpickle.dumps(obj)
    except Exception as exc:
        raise SerializationError(f"could not serialize {type(obj).__name__} object: {exc}") from exc


def serialize_args(args: tuple, kwargs: dict) -> bytes:
    """Pickle a call's arguments; a failure names the argument that can't be sent."""
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
