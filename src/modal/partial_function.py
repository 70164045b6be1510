"""Decorators that mark functions and methods before `@app.function`/`@app.cls` see them:
`method`, `enter`, `exit`, `batched`, `concurrent`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modal.exception import InvalidError

MAX_BATCH_SIZE = 1000
MAX_BATCH_WAIT_MS = 10 * 60 * 1000


@dataclass
class _PartialFunction:
    """A user function with the Modal roles and options given to it by decorators."""

    raw_f: Callable[..., Any]
    roles: set[str] = field(default_factory=set)  # "method", "enter", "exit"
    is_generator: bool | None = None
    snap: bool = False
    batch_max_size: int = 0
    batch_wait_ms: int = 0
    max_concurrent_inputs: int = 0
    target_concurrent_inputs: int = 0

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        # Accessed on a plain (local) instance: behave like the function itself.
        if obj is None:
            return self
        return self.raw_f.__get__(obj, objtype)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw_f(*args, **kwargs)

    @property
    def __name__(self) -> str:  # type: ignore[override]
        return self.raw_f.__name__


PartialFunction = _PartialFunction


def _as_partial(f: Any, decorator: str) -> _PartialFunction:
    if isinstance(f, _PartialFunction):
        return f
    if inspect.isclass(f):
        raise InvalidError(f"@modal.{decorator} applies to functions and methods, not to class {f.__name__}")
    if not callable(f):
        raise InvalidError(f"@modal.{decorator} must decorate a function, got {type(f).__name__}")
    return _PartialFunction(raw_f=f)


def _check_parentheses(f: Any, name: str) -> None:
    if f is not None:
        raise InvalidError(f"use `@modal.{name}()` with parentheses, not `@modal.{name}`")


def method(_warn_parentheses_missing: Any = None, *, is_generator: bool | None = None) -> Callable[[Any], _PartialFunction]:
    """Mark a method of an `@app.cls` class as remotely callable."""
    _check_parentheses(_warn_parentheses_missing, "method")

    def wrapper(f: Any) -> _PartialFunction:
        pf = _as_partial(f, "method")
        pf.roles.add("method")
        pf.is_generator = is_generator
        return pf

    return wrapper


def enter(_warn_parentheses_missing: Any = None, *, snap: bool = False) -> Callable[[Any], _PartialFunction]:
    """Run this method once when a container starts, before it takes inputs."""
    _check_parentheses(_warn_parentheses_missing, "enter")

    def wrapper(f: Any) -> _PartialFunction:
        pf = _as_partial(f, "enter")
        pf.roles.add("enter")
        pf.snap = snap
        return pf

    return wrapper


def exit(_warn_parentheses_missing: Any = None) -> Callable[[Any], _PartialFunction]:
    """Run this method when a container shuts down."""
    _check_parentheses(_warn_parentheses_missing, "exit")

    def wrapper(f: Any) -> _PartialFunction:
        pf = _as_partial(f, "exit")
        if inspect.signature(pf.raw_f).parameters.keys() - {"self"}:
            raise InvalidError("@modal.exit() methods take no arguments besides self")
        pf.roles.add("exit")
        return pf

    return wrapper


def batched(_warn_parentheses_missing: Any = None, *, max_batch_size: int, wait_ms: int) -> Callable[[Any], _PartialFunction]:
    """Collect single calls into lists of up to `max_batch_size`, waiting at most `wait_ms`."""
    _check_parentheses(_warn_parentheses_missing, "batched")
    if not isinstance(max_batch_size, int) or not 1 <= max_batch_size <= MAX_BATCH_SIZE:
        raise InvalidError(f"max_batch_size must be an int between 1 and {MAX_BATCH_SIZE}, got {max_batch_size!r}")
    if not isinstance(wait_ms, int) or not 0 <= wait_ms < MAX_BATCH_WAIT_MS:
        raise InvalidError(f"wait_ms must be an int between 0 and {MAX_BATCH_WAIT_MS - 1}, got {wait_ms!r}")

    def wrapper(f: Any) -> _PartialFunction:
        pf = _as_partial(f, "batched")
        if pf.max_concurrent_inputs:
            raise InvalidError("@modal.batched and @modal.concurrent can't be combined")
        pf.batch_max_size, pf.batch_wait_ms = max_batch_size, wait_ms
        return pf

    return wrapper


def concurrent(
    _warn_parentheses_missing: Any = None, *, max_inputs: int, target_inputs: int | None = None
) -> Callable[[Any], Any]:
    """Let one container run up to `max_inputs` inputs at once (aim for `target_inputs`)."""
    _check_parentheses(_warn_parentheses_missing, "concurrent")
    if not isinstance(max_inputs, int) or max_inputs < 1:
        raise InvalidError(f"max_inputs must be a positive int, got {max_inputs!r}")
    if target_inputs is not None and (not isinstance(target_inputs, int) or not 1 <= target_inputs <= max_inputs):
        raise InvalidError(f"target_inputs must be an int between 1 and max_inputs ({max_inputs})")

    def wrapper(f: Any) -> Any:
        if inspect.isclass(f):
            f.__modal_concurrent__ = (max_inputs, target_inputs or max_inputs)
            return f
        pf = _as_partial(f, "concurrent")
        if pf.batch_max_size:
            raise InvalidError("@modal.batched and @modal.concurrent can't be combined")
        pf.max_concurrent_inputs, pf.target_concurrent_inputs = max_inputs, target_inputs or max_inputs
        return pf

    return wrapper


def find_partials(user_cls: type) -> dict[str, _PartialFunction]:
    """Every decorated method of a class (including inherited ones), by attribute name."""
    found: dict[str, _PartialFunction] = {}
    for klass in reversed(user_cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, _PartialFunction):
                found[name] = value
    return found
