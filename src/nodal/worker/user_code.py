"""Finding and preparing the user's function or class inside the container."""

from __future__ import annotations

import importlib
import inspect
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nodal.proto import api_pb2


@dataclass
class Service:
    """What the worker calls: one function, or the methods of one class instance."""

    functions: dict[str, Callable[..., Any]]  # method name ("" for a plain function) -> callable
    instance: Any = None
    exit_hooks: list[Callable[[], Any]] = field(default_factory=list)
    snap_enter_hooks: list[Callable[[], Any]] = field(default_factory=list)  # @enter(snap=True): run first
    enter_hooks: list[Callable[[], Any]] = field(default_factory=list)  # the other @enter methods

    def target(self, method_name: str) -> Callable[..., Any]:
        try:
            return self.functions[method_name]
        except KeyError:
            raise AttributeError(f"this class has no @modal.method() named {method_name!r}") from None


def _resolve(module_name: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def load(definition: api_pb2.FunctionDef, params: bytes) -> Service:
    """Import (or unpickle) the user's object and, for a class, construct its instance."""
    from modal.cls import _MISSING, Cls, class_parameters, make_instance
    from modal.functions import Function
    from modal.partial_function import _PartialFunction, find_partials

    if definition.serialized:
        obj = pickle.loads(definition.serialized)
    else:
        obj = _resolve(definition.module_name, definition.qualname)
    if not definition.is_class:
        if isinstance(obj, Function):
            obj = obj.get_raw_f()
        if isinstance(obj, _PartialFunction):
            obj = obj.raw_f
        return Service(functions={"": obj})
    user_cls = obj._user_cls if isinstance(obj, Cls) else obj
    kwargs = pickle.loads(params) if params else {}
    for name, (_, decl) in class_parameters(user_cls).items():
        if name not in kwargs and decl.default is not _MISSING:
            kwargs[name] = decl.default  # a caller that looked the class up by name could not fill it in
    instance = make_instance(user_cls, kwargs)
    partials = find_partials(user_cls)
    service = Service(functions={}, instance=instance)
    for name, pf in partials.items():
        bound = pf.raw_f.__get__(instance, user_cls)
        if "method" in pf.roles or pf.batch_max_size:
            service.functions[name] = bound
        if "enter" in pf.roles:
            (service.snap_enter_hooks if pf.snap else service.enter_hooks).append(bound)
        if "exit" in pf.roles:
            service.exit_hooks.append(bound)
    return service


async def call_hook(hook: Callable[[], Any]) -> None:
    result = hook()
    if inspect.isawaitable(result):
        await result


def find_function_handles() -> list[Any]:
    """Every App the user's module created here, to hydrate their function handles."""
    from modal.app import App

    return list(App._all_apps)
