"""`modal.Cls`, its instances, and `modal.parameter()`.

A class registers one service function ("Name.*") whose containers hold one
instance each; every set of parameters gets its own warm pool on the server.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from modal._options import parse_function_options
from modal._serialization import serialize
from modal._utils.async_utils import live_classmethod, live_method
from modal.client import Client, _default_client
from modal.exception import ExecutionError, InvalidError, NotFoundError, deprecation_warning
from modal.functions import Function
from modal.partial_function import batched, concurrent, find_partials
from modal.retries import Retries
from nodal.proto import api_pb2

if TYPE_CHECKING:
    from modal.app import App

_PARAM_TYPES = (str, int, bool, bytes)
_MISSING = object()


class _Parameter:
    def __init__(self, default: Any = _MISSING, init: bool = True) -> None:
        self.default = default
        self.init = init

    def __repr__(self) -> str:
        return f"modal.parameter(default={self.default!r})"


def parameter(*, default: Any = _MISSING, init: bool = True) -> Any:
    """Declare a class parameter: `name: str = modal.parameter(default="x")`.
    Supported types: str, int, bool, bytes. `init=False` keeps it out of the constructor."""
    if default is not _MISSING and not isinstance(default, _PARAM_TYPES):
        raise InvalidError(f"parameter default {default!r} must be a str, int, bool or bytes")
    return _Parameter(default, init)


def class_parameters(user_cls: type) -> dict[str, tuple[type, _Parameter]]:
    """The class's modal.parameter() fields: name -> (annotated type, declaration)."""
    params: dict[str, tuple[type, _Parameter]] = {}
    for klass in reversed(user_cls.__mro__):
        annotations = klass.__dict__.get("__annotations__", {})
        for name, value in vars(klass).items():
            if isinstance(value, _Parameter):
                typ = annotations.get(name, str)
                if isinstance(typ, str):
                    typ = {"str": str, "int": int, "bool": bool, "bytes": bytes}.get(typ, typ)
                if typ not in _PARAM_TYPES:
                    raise InvalidError(
                        f"{user_cls.__name__}.{name}: parameter type {typ!r} is not supported; use str, int, bool or bytes"
                    )
                params[name] = (typ, value)
    return params


def bind_parameters(user_cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Validate constructor kwargs against the declared parameters; fill in defaults."""
    params = class_parameters(user_cls)
    has_legacy_init = "__init__" in vars(user_cls)
    if has_legacy_init and not params:
        return dict(kwargs)  # deprecated custom __init__: arguments go to it as they are
    bound: dict[str, Any] = {}
    for name, value in kwargs.items():
        if name not in params or not params[name][1].init:
            raise InvalidError(f"{user_cls.__name__} has no parameter {name!r}; declare it with modal.parameter()")
        typ = params[name][0]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise InvalidError(f"{user_cls.__name__}.{name} expects {typ.__name__}, got {type(value).__name__}")
        bound[name] = value
    for name, (_, decl) in params.items():
        if name not in bound:
            if decl.default is _MISSING:
                if decl.init:
                    raise InvalidError(f"{user_cls.__name__}() is missing the required parameter {name!r}")
                continue
            bound[name] = decl.default
    return bound


def make_instance(user_cls: type, params: dict[str, Any]) -> Any:
    """Create the user's object with its parameters set (in a container, or for `.local()`)."""
    if "__init__" in vars(user_cls) and not class_parameters(user_cls):
        return user_cls(**params)
    obj = user_cls.__new__(user_cls)
    for name, value in params.items():
        setattr(obj, name, value)
    return obj


def run_enter_hooks(obj: Any) -> None:
    for name, pf in find_partials(type(obj)).items():
        if "enter" in pf.roles:
            result = pf.raw_f(obj)
            if inspect.isawaitable(result):
                import asyncio

                asyncio.run(result)


class Obj:
    """An instance of a remote class: its methods are Functions bound to its parameters."""

    def __init__(self, cls: Cls, params: dict[str, Any]) -> None:
        self._cls = cls
        self._params = params
        self._bound: tuple[Client, str] | None = None
        self._local: Any = None

    async def _bound_ids(self) -> tuple[Client, str]:
        """(client, id of this instance's pool): the class's own pool, or one bound to the
        instance's parameters and the Cls's option overrides."""
        if self._bound is None or self._bound[0].is_closed:
            client, fid = await self._cls._service_ids()
            if self._params or self._cls._overrides:
                req = api_pb2.FunctionBindParamsRequest(
                    function_id=fid, serialized_params=serialize(self._params))
                if self._cls._overrides:
                    req.overrides.CopyFrom(await self._cls._overrides_proto(client))
                resp = await client.stub.FunctionBindParams(req)
                fid = resp.bound_function_id
            self._bound = (client, fid)
        return self._bound

    def _local_obj(self) -> Any:
        if self._local is None:
            if self._cls._user_cls is None:
                raise ExecutionError("this class was looked up by name; its code is not available locally")
            self._local = make_instance(self._cls._user_cls, self._params)
            run_enter_hooks(self._local)
        return self._local

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        methods = self._cls._method_names()
        if methods is not None and name not in methods:
            if name in self._params:
                return self._params[name]
            raise NotFoundError(f"{self._cls._name} has no method {name!r} (methods: {', '.join(sorted(methods))})")
        is_gen = name in self._cls._generator_methods()

        def local_call(*args: Any, **kwargs: Any) -> Any:
            return getattr(self._local_obj(), name)(*args, **kwargs)

        raw = None
        if self._cls._user_cls is not None:
            pf = find_partials(self._cls._user_cls).get(name)
            raw = pf.raw_f if pf is not None else None
        return Function(raw, f"{self._cls._name}.{name}", is_generator=is_gen, method_name=name,
                        resolver=self._bound_ids, local_call=local_call)

    @live_method
    async def update_autoscaler(self, *, min_containers: int | None = None, max_containers: int | None = None,
                                buffer_containers: int | None = None, scaledown_window: int | None = None) -> None:
        """Change the autoscaler's bounds for this instance's pool."""
        client, fid = await self._bound_ids()
        handle = Function(None, self._cls._name)
        handle._hydrate(fid, client)
        await handle.update_autoscaler.aio(min_containers=min_containers, max_containers=max_containers,
                                           buffer_containers=buffer_containers, scaledown_window=scaledown_window)

    @live_method
    async def keep_warm(self, warm_pool_size: int) -> None:
        deprecation_warning((2025, 2, 24), "keep_warm() is deprecated; use update_autoscaler(min_containers=...)")
        await self.update_autoscaler.aio(min_containers=warm_pool_size)


class Cls:
    """A class registered with `@app.cls()` (or looked up by name): call it to get an instance."""

    def __init__(self, user_cls: type | None, name: str, *, app: App | None = None,
                 service_function: Function | None = None) -> None:
        self._user_cls = user_cls
        self._name = name
        self._app = app
        self._service = service_function
        self._definition: api_pb2.FunctionDef | None = None  # of a class looked up by name
        self._root = self  # the Cls that with_options() & co. derived this one from
        self._overrides: dict[str, Any] = {}  # option name -> value, see _overrides_proto
        if user_cls is not None:
            self.__doc__ = user_cls.__doc__

    def __repr__(self) -> str:
        return f"Cls({self._name!r})"

    def _method_names(self) -> set[str] | None:
        if self._user_cls is not None:
            return {n for n, pf in find_partials(self._user_cls).items()
                    if "method" in pf.roles or pf.batch_max_size or pf.web is not None}  # web: for its URL
        definition = self._root._definition
        if definition is not None:
            return set(definition.method_names)
        return None

    def _generator_methods(self) -> set[str]:
        if self._user_cls is not None:
            out = set()
            for n, pf in find_partials(self._user_cls).items():
                gen = pf.is_generator
                if gen is None:
                    gen = inspect.isgeneratorfunction(pf.raw_f) or inspect.isasyncgenfunction(pf.raw_f)
                if gen:
                    out.add(n)
            return out
        definition = self._root._definition
        return set(definition.generator_methods) if definition is not None else set()

    async def _service_ids(self) -> tuple[Client, str]:
        if self._service is None:
            raise ExecutionError(f"class {self._name} is not attached to an app")
        return await self._service._ids()

    def __call__(self, *args: Any, **kwargs: Any) -> Obj:
        if args:
            raise InvalidError(f"{self._name}() takes keyword arguments only (its modal.parameter() fields)")
        params = bind_parameters(self._user_cls, kwargs) if self._user_cls is not None else dict(kwargs)
        return Obj(self, params)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        # Class-level method access (`Model.predict`) as in Modal: an instance without parameters.
        return getattr(self(), name)

    @property
    def object_id(self) -> str:
        if self._service is None:
            raise ExecutionError(f"class {self._name} is not hydrated")
        return self._service.object_id

    @live_method
    async def hydrate(self, client: Client | None = None) -> Cls:
        await self._service_ids()
        return self

    @classmethod
    def from_name(cls, app_name: str, name: str, *, namespace: Any = None, environment_name: str | None = None,
                  workspace: str | None = None, client: Client | None = None) -> Cls:
        """A lazy handle to a class of a deployed app; resolved at first use. `workspace`, when
        given, must be the client's own: a Nodal token sees only its workspace's apps."""
        if not isinstance(app_name, str) or not isinstance(name, str) or not app_name or not name:
            raise InvalidError("Cls.from_name(app_name, name) needs two non-empty strings")
        obj = cls(None, name)
        service = Function(None, f"{name}.*")

        async def resolve() -> tuple[Client, str]:
            c = client or await _default_client()
            if workspace is not None:
                mine = (await c.stub.WhoAmI(api_pb2.Empty())).workspace
                if workspace != mine:
                    raise NotFoundError(f"class {name!r} of app {app_name!r} not found in workspace {workspace!r}: "
                                        f"this client's token belongs to workspace {mine!r}, and a Nodal token sees "
                                        "only its own workspace's apps")
            resp = await c.stub.FunctionGet(api_pb2.FunctionGetRequest(
                app_name=app_name, tag=f"{name}.*", environment_name=environment_name or ""))
            obj._definition = resp.definition
            return c, resp.function_id

        service._resolver = resolve
        obj._service = service
        return obj

    @live_classmethod
    async def lookup(cls, app_name: str, name: str, namespace: Any = None, client: Client | None = None,
                     environment_name: str | None = None, workspace: str | None = None) -> Cls:
        deprecation_warning((2025, 1, 27), "Cls.lookup is deprecated; use Cls.from_name")
        obj = cls.from_name(app_name, name, environment_name=environment_name, workspace=workspace, client=client)
        await obj._service_ids()
        return obj

    # ---------- option overrides ----------
    def with_options(
        self,
        *,
        cpu: float | tuple[float, float] | None = None,
        memory: int | tuple[int, int] | None = None,
        gpu: Any = None,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Any] | None = None,
        volumes: dict = {},
        retries: int | Retries | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaledown_window: int | None = None,
        timeout: int | None = None,
        region: str | Sequence[str] | None = None,
        cloud: str | None = None,
        min_containers: int | None = None,
        # Deprecated aliases (documented by the older reference):
        concurrency_limit: int | None = None,
        container_idle_timeout: int | None = None,
        allow_concurrent_inputs: int | None = None,
    ) -> Cls:
        """A variant of this class with other resources, secrets or scaling. Its instances run in
        their own warm pool, autoscaled apart from the original's. Options stack
        (`Model.with_options(gpu="A100").with_options(scaledown_window=300)`) but can't be unset;
        `secrets=` replaces the class's secrets, `env=` is merged over its env, and `volumes=`
        over its volumes by mount path."""
        given = {k: v for k, v in dict(
            cpu=cpu, memory=memory, gpu=gpu, env=env, secrets=secrets, retries=retries,
            max_containers=max_containers, buffer_containers=buffer_containers,
            scaledown_window=scaledown_window, timeout=timeout, region=region, cloud=cloud,
            min_containers=min_containers,
            concurrency_limit=concurrency_limit, container_idle_timeout=container_idle_timeout,
            allow_concurrent_inputs=allow_concurrent_inputs,
        ).items() if v is not None}
        mounts = _checked_volumes(volumes) if volumes else None
        if "secrets" in given and not isinstance(secrets, Collection):
            raise InvalidError(f"secrets= must be a list of modal.Secret, got {type(secrets).__name__}")
        opts = parse_function_options(**given)  # validates (InvalidError) and maps deprecated aliases
        changes: dict[str, Any] = {}
        if opts.cpu != (0.0, 0.0):
            changes["cpu"] = opts.cpu
        if opts.memory != (0, 0):
            changes["memory"] = opts.memory
        if opts.gpu:
            changes["gpu"] = opts.gpu
        if opts.secrets:
            changes["secrets"] = list(opts.secrets)
        if mounts:
            changes["volumes"] = mounts
        if env:
            changes["env"] = {k: v for k, v in env.items() if v is not None}
        if opts.retries is not None:
            changes["retries"] = opts.retries
        if timeout is not None:
            changes["timeout"] = opts.timeout
        for name, aliases in (("min_containers", ("min_containers",)),
                              ("max_containers", ("max_containers", "concurrency_limit")),
                              ("buffer_containers", ("buffer_containers",)),
                              ("scaledown_window", ("scaledown_window", "container_idle_timeout"))):
            if any(a in given for a in aliases):
                changes[name] = getattr(opts, name)
        if allow_concurrent_inputs is not None:
            changes["concurrency"] = (opts.max_concurrent_inputs, opts.target_concurrent_inputs)
        return self._derive(changes)

    def with_concurrency(self, *, max_inputs: int, target_inputs: int | None = None) -> Cls:
        """A variant of this class whose containers each run up to `max_inputs` inputs at once
        (autoscaling aims for `target_inputs`), in their own warm pool."""
        concurrent(max_inputs=max_inputs, target_inputs=target_inputs)  # validates as @modal.concurrent
        return self._derive({"concurrency": (max_inputs, target_inputs or max_inputs)})

    def with_batching(self, *, max_batch_size: int, wait_ms: int) -> Cls:
        """A variant of this class whose methods get inputs in lists of up to `max_batch_size`,
        waiting at most `wait_ms` for a batch to fill, in their own warm pool."""
        batched(max_batch_size=max_batch_size, wait_ms=wait_ms)  # validates as @modal.batched
        return self._derive({"batching": (max_batch_size, wait_ms)})

    def _derive(self, changes: dict[str, Any]) -> Cls:
        overrides = {**self._overrides, **changes}
        for merged in ("env", "volumes"):  # merged over earlier overrides (volumes: by mount path)
            if merged in changes and merged in self._overrides:
                overrides[merged] = {**self._overrides[merged], **changes[merged]}
        self._check_overrides(overrides)
        new = Cls(self._user_cls, self._name, app=self._app, service_function=self._service)
        new._root = self._root
        new._overrides = overrides
        return new

    def _check_overrides(self, o: dict[str, Any]) -> None:
        """What can be checked locally across stacked overrides (the server checks the rest)."""
        low, high = o.get("min_containers"), o.get("max_containers")
        if low and high and low > high:
            raise InvalidError(f"min_containers ({low}) can't exceed max_containers ({high})")
        batching = "batching" in o
        concurrency = "concurrency" in o and o["concurrency"][0] > 1
        if self._user_cls is not None:
            partials = find_partials(self._user_cls).values()
            batching = batching or any(pf.batch_max_size for pf in partials)
            concurrency = concurrency or bool(getattr(self._user_cls, "__modal_concurrent__", None)) or any(
                pf.max_concurrent_inputs > 1 for pf in partials)
        if batching and concurrency and ("batching" in o or "concurrency" in o):
            raise InvalidError("batching and input concurrency can't be combined on one class")

    async def _overrides_proto(self, client: Client) -> api_pb2.FunctionOverrides:
        o = self._overrides
        msg = api_pb2.FunctionOverrides()
        if "cpu" in o:
            msg.cpu.cpu, msg.cpu.cpu_limit = o["cpu"]
        if "memory" in o:
            msg.memory.memory_mb, msg.memory.memory_limit_mb = o["memory"]
        if "gpu" in o:
            msg.gpu = o["gpu"]
        if "secrets" in o:
            app_id = (self._app.app_id if self._app is not None else None) or ""
            msg.secrets.secret_ids.extend([await s._resolve(client, app_id) for s in o["secrets"]])
        msg.env.update(o.get("env", {}))
        if "retries" in o:
            msg.retries.CopyFrom(api_pb2.RetryPolicy(**o["retries"]._to_dict()))
        for name in ("timeout", "min_containers", "max_containers", "buffer_containers", "scaledown_window"):
            if name in o:
                setattr(msg, name, o[name])
        if "concurrency" in o:
            msg.concurrency.max_inputs, msg.concurrency.target_inputs = o["concurrency"]
        if "batching" in o:
            msg.batching.max_batch_size, msg.batching.wait_ms = o["batching"]
        if "volumes" in o:
            from modal.runner import _split_bucket_mounts, _volume_mounts

            app_id = (self._app.app_id if self._app is not None else None) or ""
            plain, buckets = _split_bucket_mounts(o["volumes"])
            msg.volumes.volume_mounts.extend(await _volume_mounts(plain, client))
            msg.volumes.bucket_mounts.extend([await bm._to_proto(path, client, app_id) for path, bm in buckets])
        return msg


def _checked_volumes(volumes: dict) -> dict[str, Any]:
    """with_options(volumes=): modal.Volume or modal.CloudBucketMount by absolute mount path
    (InvalidError naming the entry otherwise); keyed by the path as a string."""
    from modal.cloud_bucket_mount import CloudBucketMount
    from modal.volume import Volume

    if not isinstance(volumes, dict):
        raise InvalidError(f"volumes= must be a dict of mount path -> modal.Volume, got {type(volumes).__name__}")
    checked = {}
    for path, obj in volumes.items():
        if not isinstance(obj, (Volume, CloudBucketMount)):
            raise InvalidError(f"volumes={{{str(path)!r}: ...}} needs a modal.Volume or modal.CloudBucketMount, "
                               f"not {type(obj).__name__}")
        if not str(path).startswith("/") or str(path).rstrip("/") in ("", "/root", "/tmp"):
            raise InvalidError(f"volume mount path {str(path)!r} must be an absolute path other than /, /root and /tmp")
        checked[str(path)] = obj
    return checked


def user_methods(user_cls: type) -> dict[str, Callable[..., Any]]:
    return {n: pf.raw_f for n, pf in find_partials(user_cls).items() if "method" in pf.roles or pf.batch_max_size}
