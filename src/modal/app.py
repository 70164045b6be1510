"""`modal.App`: the group of functions and classes that run and deploy together."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from modal._options import FunctionOptions, parse_function_options
from modal._utils.async_utils import live_classmethod, live_method
from modal.client import Client, _default_client
from modal.cls import Cls
from modal.exception import InvalidError
from modal.functions import Function, not_running_error
from modal.partial_function import _PartialFunction, find_partials
from nodal.proto import api_pb2


@dataclass
class LocalEntrypoint:
    """A function run on the caller's machine by `modal run`, with the app running."""

    raw_f: Callable[..., Any]
    app: App

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw_f(*args, **kwargs)

    @property
    def info(self) -> Any:
        return self.raw_f


def _class_web_endpoints(partials: dict[str, _PartialFunction]) -> tuple[Any, ...]:
    """The web endpoints of a class: one per web-decorated method, named by the method."""
    eps = []
    for name, pf in partials.items():
        if pf.web is not None:
            ep = api_pb2.WebEndpoint()
            ep.CopyFrom(pf.web)
            ep.method_name = name
            eps.append(ep)
    return tuple(eps)


def _image_with_builds(opts: FunctionOptions, user_cls: type, builds: list[_PartialFunction]) -> Any:
    """The class's image with each deprecated @modal.build method run on it (`Image.run_function`,
    with the class's secrets and GPU), on an instance holding its parameters' defaults."""
    from modal.cls import _MISSING, class_parameters, make_instance
    from modal.image import Image

    defaults = {}
    for name, (_, decl) in class_parameters(user_cls).items():
        if decl.default is _MISSING:
            raise InvalidError(f"{user_cls.__name__}: @modal.build methods run once, when the image is built, "
                               f"not per instance: give parameter {name!r} a default")
        defaults[name] = decl.default
    instance = make_instance(user_cls, defaults)
    image = opts.image or Image.debian_slim()
    for pf in builds:
        image = image.run_function(pf.raw_f, args=(instance,), secrets=list(opts.secrets), gpu=opts.gpu or None,
                                   timeout=pf.build_timeout, force_build=pf.build_force)
    return image


@dataclass
class _Registered:
    """What the runner needs to publish a function: its handle, options and code location."""

    function: Function
    options: FunctionOptions
    raw: Any  # the user's function or class
    is_class: bool = False
    is_async: bool = False
    batch_max_size: int = 0
    batch_wait_ms: int = 0
    method_names: tuple[str, ...] = ()
    generator_methods: tuple[str, ...] = ()
    web_endpoints: tuple[Any, ...] = ()  # api_pb2.WebEndpoint, one per web decorator


class App:
    """A Modal App: register functions with `@app.function()`, classes with `@app.cls()`."""

    _all_apps: list[App] = []

    def __init__(
        self,
        name: str | None = None,
        *,
        image: Any = None,
        secrets: Any = (),
        volumes: dict | None = None,
        mounts: Any = (),
        include_source: bool | None = None,
        description: str | None = None,
    ) -> None:
        from modal.image import Image
        from modal.secret import Secret

        if name is not None and not isinstance(name, str):
            raise InvalidError(f"App name must be a string, got {type(name).__name__}")
        if image is not None and not isinstance(image, Image):
            raise InvalidError(f"App image= must be a modal.Image, got {type(image).__name__}")
        for s in secrets:
            if not isinstance(s, Secret):
                raise InvalidError(f"App secrets= must be modal.Secret objects, got {type(s).__name__}")
        self._name = name
        self._description = description or name
        self._image = image
        self._secrets = list(secrets)
        self._volumes = dict(volumes or {})
        self._functions: dict[str, Function] = {}
        self._classes: dict[str, Cls] = {}
        self._entrypoints: dict[str, LocalEntrypoint] = {}
        self._registered: dict[str, _Registered] = {}
        self._app_id: str | None = None
        self._client: Client | None = None
        self._running = False
        self._run_client: Client | None = None  # the client of its `app.run()` while running
        self._run_started = 0.0  # when that `app.run()` began (the innermost block owns ephemeral objects)
        self._interactive = False
        App._all_apps.append(self)

    # ---------- properties ----------
    @property
    def name(self) -> str | None:
        return self._name

    @property
    def app_id(self) -> str | None:
        return self._app_id

    @property
    def description(self) -> str | None:
        return self._description

    def set_description(self, description: str) -> None:
        self._description = description

    @property
    def image(self) -> Any:
        return self._image

    @image.setter
    def image(self, value: Any) -> None:
        self._image = value

    @property
    def is_interactive(self) -> bool:
        return self._interactive

    @property
    def registered_functions(self) -> dict[str, Function]:
        return dict(self._functions)

    @property
    def registered_classes(self) -> dict[str, Cls]:
        return dict(self._classes)

    @property
    def registered_entrypoints(self) -> dict[str, LocalEntrypoint]:
        return dict(self._entrypoints)

    @property
    def registered_web_endpoints(self) -> list[str]:
        """Tags of the functions (and class methods, as "Cls.method") served as web endpoints."""
        return [reg.function.tag if not reg.is_class else f"{reg.function.tag[:-2]}.{ep.method_name}"
                for reg in self._registered.values() for ep in reg.web_endpoints]

    @property
    def indexed_objects(self) -> dict[str, Any]:
        return {**self._functions, **self._classes}

    def __repr__(self) -> str:
        return f"App({self._name!r})" if self._name else "App()"

    # ---------- registration ----------
    def _merge_defaults(self, kwargs: dict) -> FunctionOptions:
        if kwargs.get("image") is None:
            kwargs["image"] = self._image
        kwargs["secrets"] = [*self._secrets, *(kwargs.get("secrets") or ())]
        kwargs["volumes"] = {**self._volumes, **(kwargs.get("volumes") or {})}
        for path in kwargs["volumes"]:
            if not str(PurePosixPath(path)).startswith("/"):
                raise InvalidError(f"volume mount path {path!r} must be absolute")
        return parse_function_options(**kwargs)

    def _resolver(self, tag: str) -> Callable[[], Any]:
        async def resolve() -> tuple[Client, str]:
            fn = self._functions.get(tag) or (self._classes[tag[:-2]]._service if tag.endswith(".*") else None)
            if fn is not None and fn._function_id is not None and self._client is not None:
                return self._client, fn._function_id
            raise not_running_error(tag)

        return resolve

    def function(self, _warn_parentheses_missing: Any = None, *, name: str | None = None,
                 is_generator: bool | None = None, **options: Any) -> Callable[[Any], Function]:
        """Register a function to run in containers. Options are validated here, at decoration."""
        if _warn_parentheses_missing is not None:
            raise InvalidError("use `@app.function()` with parentheses, not `@app.function`")
        opts = self._merge_defaults(options)

        def wrapper(f: Any) -> Function:
            pf: _PartialFunction | None = None
            if isinstance(f, _PartialFunction):
                pf, f = f, f.raw_f
                if pf.roles & {"method", "enter", "exit"}:
                    raise InvalidError("@modal.method/@enter/@exit belong on methods of an @app.cls class")
            if isinstance(f, Function):
                raise InvalidError(f"{f.tag} is already a Modal function; apply @app.function() only once")
            if inspect.isclass(f):
                raise InvalidError(f"{f.__name__} is a class: register it with @app.cls()")
            if not callable(f):
                raise InvalidError(f"@app.function() must decorate a function, got {type(f).__name__}")
            tag = name or f.__name__
            if "." in tag or not tag:
                raise InvalidError(f"function name {tag!r} must be non-empty and contain no '.'")
            gen = is_generator if is_generator is not None else (
                inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f))
            o = opts
            if pf is not None and pf.max_concurrent_inputs:
                from dataclasses import replace

                o = replace(opts, max_concurrent_inputs=pf.max_concurrent_inputs,
                            target_concurrent_inputs=pf.target_concurrent_inputs)
            fn = Function(f, tag, app=self, is_generator=gen, resolver=self._resolver(tag))
            self._functions[tag] = fn
            self._registered[tag] = _Registered(
                fn, o, f, is_async=inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f),
                batch_max_size=pf.batch_max_size if pf else 0, batch_wait_ms=pf.batch_wait_ms if pf else 0,
                web_endpoints=(pf.web,) if pf is not None and pf.web is not None else ())
            if pf is not None and pf.web is not None:
                fn._web = pf.web
            return fn

        return wrapper

    def cls(self, _warn_parentheses_missing: Any = None, **options: Any) -> Callable[[type], Cls]:
        """Register a class; its @modal.method()s run in containers holding one instance each."""
        if _warn_parentheses_missing is not None:
            raise InvalidError("use `@app.cls()` with parentheses, not `@app.cls`")
        for bad in ("is_generator", "schedule", "name"):
            if bad in options:
                raise InvalidError(f"@app.cls() does not take {bad}=")
        opts = self._merge_defaults(options)

        def wrapper(user_cls: Any) -> Cls:
            from dataclasses import replace

            from modal.cls import class_parameters

            if not inspect.isclass(user_cls):
                raise InvalidError(f"@app.cls() must decorate a class, got {type(user_cls).__name__}")
            class_parameters(user_cls)  # validates parameter declarations now
            partials = find_partials(user_cls)
            methods = tuple(n for n, pf in partials.items()
                            if "method" in pf.roles or pf.batch_max_size or pf.web is not None)
            gens = tuple(n for n in methods if (partials[n].is_generator if partials[n].is_generator is not None
                         else inspect.isgeneratorfunction(partials[n].raw_f) or
                         inspect.isasyncgenfunction(partials[n].raw_f)))
            o = opts
            conc = getattr(user_cls, "__modal_concurrent__", None)
            if conc:
                o = replace(o, max_concurrent_inputs=conc[0], target_concurrent_inputs=conc[1])
            builds = [pf for pf in partials.values() if "build" in pf.roles]
            if builds:  # deprecated @modal.build: steps of the class's image
                o = replace(o, image=_image_with_builds(o, user_cls, builds))
            batched = [pf for pf in partials.values() if pf.batch_max_size]
            tag = f"{user_cls.__name__}.*"
            service = Function(None, tag, app=self, resolver=self._resolver(tag))
            obj = Cls(user_cls, user_cls.__name__, app=self, service_function=service)
            self._classes[user_cls.__name__] = obj
            self._registered[tag] = _Registered(
                service, o, user_cls, is_class=True, method_names=methods, generator_methods=gens,
                batch_max_size=batched[0].batch_max_size if batched else 0,
                batch_wait_ms=batched[0].batch_wait_ms if batched else 0,
                web_endpoints=_class_web_endpoints(partials))
            return obj

        return wrapper

    def local_entrypoint(self, _warn_parentheses_missing: Any = None, *, name: str | None = None) -> Callable:
        """Register a function that `modal run` calls on this machine while the app runs."""
        if _warn_parentheses_missing is not None:
            raise InvalidError("use `@app.local_entrypoint()` with parentheses")

        def wrapper(f: Callable[..., Any]) -> LocalEntrypoint:
            tag = name or f.__name__
            ep = LocalEntrypoint(f, self)
            self._entrypoints[tag] = ep
            return ep

        return wrapper

    def include(self, /, other_app: App) -> App:
        """Add another app's functions and classes to this one."""
        if not isinstance(other_app, App):
            raise InvalidError("include() takes a modal.App")
        for tag, reg in other_app._registered.items():
            if tag in self._registered and self._registered[tag].function is not reg.function:
                raise InvalidError(f"both apps define {tag!r}")
            self._registered[tag] = reg
        self._functions.update(other_app._functions)
        self._classes.update(other_app._classes)
        for fn in other_app._functions.values():
            fn._resolver = self._resolver(fn.tag)
        for c in other_app._classes.values():
            if c._service is not None:
                c._service._resolver = self._resolver(c._service.tag)
        return self

    # ---------- running ----------
    def run(self, *, client: Client | None = None, show_progress: bool | None = None, detach: bool = False,
            interactive: bool = False, environment_name: str | None = None) -> Any:
        """Context manager: the app runs (ephemerally) on the server for the `with` block.
        `show_progress` is deprecated and does nothing: `with modal.enable_output():` shows output."""
        from modal.runner import run_app

        if show_progress is not None:
            from modal.exception import deprecation_warning

            deprecation_warning((2024, 11, 20), "App.run(show_progress=) is deprecated and does nothing; "
                                "use `with modal.enable_output():` to show the app's output")

        return run_app(self, client=client, detach=detach, interactive=interactive,
                       environment_name=environment_name)

    @live_method
    async def deploy(self, *, name: str | None = None, environment_name: str | None = None, tag: str = "",
                     client: Client | None = None) -> App:
        """Deploy the app under its name: a new version that outlives this process."""
        from modal.runner import _deploy

        await _deploy(self, name=name, environment_name=environment_name, tag=tag, client=client)
        return self

    @live_classmethod
    async def lookup(cls, name: str, *, client: Client | None = None, environment_name: str | None = None,
                     create_if_missing: bool = False) -> App:
        """A handle to a deployed app by name (created empty if asked and missing)."""
        c = client or await _default_client()
        resp = await c.stub.AppLookup(api_pb2.AppLookupRequest(
            name=name, environment_name=environment_name or "", create_if_missing=create_if_missing))
        app = cls(name)
        app._app_id, app._client = resp.app_id, c
        App._all_apps.remove(app)
        return app

    def _hydrate_all(self, function_ids: dict[str, str], client: Client) -> None:
        self._client = client
        for tag, reg in self._registered.items():
            fid = function_ids.get(tag)
            if fid:
                reg.function._hydrate(fid, client)
