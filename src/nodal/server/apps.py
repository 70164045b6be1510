"""Apps, their functions and deployments: what exists and which pool serves a function."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import PurePosixPath

from nodal.proto import api_pb2
from nodal.server import bucket_mounts
from nodal.server.errors import ApiError, invalid, not_found
from nodal.server.ids import is_id, new_id
from nodal.server.logs import LogHub
from nodal.server.pool import Pool
from nodal.server.scheduler import Scheduler
from nodal.store.blob_store import BlobStore, is_sha256
from nodal.store.metadata import AppRecord, BoundFunctionRecord, FunctionRecord, MetadataStore

log = logging.getLogger("nodal.apps")

HEARTBEAT_TIMEOUT = 60.0  # an ephemeral app whose client is silent this long is stopped
LIVE_STATES = (api_pb2.APP_STATE_EPHEMERAL, api_pb2.APP_STATE_DETACHED, api_pb2.APP_STATE_DEPLOYED)


MAX_BATCH_SIZE = 1000  # as modal.batched
MAX_BATCH_WAIT_MS = 10 * 60 * 1000


def apply_overrides(base: api_pb2.FunctionDef, o: api_pb2.FunctionOverrides) -> api_pb2.FunctionDef:
    """The definition a bound pool runs: `base` with whatever `o` sets replaced (env merged)."""
    d = api_pb2.FunctionDef()
    d.CopyFrom(base)
    if o.HasField("cpu"):
        d.cpu, d.cpu_limit = o.cpu.cpu, o.cpu.cpu_limit
    if o.HasField("memory"):
        d.memory_mb, d.memory_limit_mb = o.memory.memory_mb, o.memory.memory_limit_mb
    if o.HasField("gpu"):
        d.gpu = o.gpu
    if o.HasField("secrets"):
        del d.secret_ids[:]
        d.secret_ids.extend(o.secrets.secret_ids)
    d.env.update(o.env)
    if o.HasField("retries"):
        d.retries.CopyFrom(o.retries)
    for name in ("timeout", "min_containers", "max_containers", "buffer_containers", "scaledown_window"):
        if o.HasField(name):
            setattr(d, name, getattr(o, name))
    if o.HasField("concurrency"):
        d.max_concurrent_inputs = o.concurrency.max_inputs
        d.target_concurrent_inputs = o.concurrency.target_inputs or o.concurrency.max_inputs
    if o.HasField("batching"):
        d.batch_max_size, d.batch_wait_ms = o.batching.max_batch_size, o.batching.wait_ms
    if o.HasField("volumes"):
        given = {m.mount_path.rstrip("/") for m in [*o.volumes.volume_mounts, *o.volumes.bucket_mounts]}
        kept_volumes = [_copy(m) for m in d.volume_mounts if m.mount_path.rstrip("/") not in given]
        kept_buckets = [_copy(m) for m in d.bucket_mounts if m.mount_path.rstrip("/") not in given]
        del d.volume_mounts[:], d.bucket_mounts[:]
        d.volume_mounts.extend([*kept_volumes, *o.volumes.volume_mounts])
        d.bucket_mounts.extend([*kept_buckets, *o.volumes.bucket_mounts])
    return d


def _copy(message):
    """A detached copy of a protobuf message (one taken out of a repeated field that is cleared)."""
    return type(message).FromString(message.SerializeToString())


def _starts_early(d: api_pb2.FunctionDef) -> bool:
    """Whether a function's pool starts containers before its first call: warm ones
    (`min_containers`), or its memory snapshot (`enable_memory_snapshot`, nodal.server.scheduler)."""
    return bool(d.min_containers or d.enable_memory_snapshot)


def valid_name(name: str) -> bool:
    """App and environment names: letters, digits, '-', '_' and '.', at most 64."""
    return 0 < len(name) <= 64 and all(c.isalnum() or c in "-_." for c in name)


class AppService:
    def __init__(self, store: MetadataStore, blobs: BlobStore, scheduler: Scheduler, logs: LogHub) -> None:
        self.store = store
        self.blobs = blobs
        self.scheduler = scheduler
        self.logs = logs
        self.heartbeats: dict[str, float] = {}
        self._reaper: asyncio.Task | None = None
        self.on_apps_changed = lambda: None  # the schedule runner re-plans (set by main)
        # Called with the id of each app that stops (e.g. to delete its ephemeral Dicts and Queues).
        self.on_stopped: list[Callable[[str], object]] = []

    def start(self) -> None:
        # Ephemeral apps cannot outlive the server that ran them: their clients are gone.
        for app in self.store.list_apps():
            if app.state == api_pb2.APP_STATE_EPHEMERAL:
                app.state, app.stopped_at = api_pb2.APP_STATE_STOPPED, time.time()
                self.store.put_app(app)
                self._stopped(app.app_id)
            elif app.state in LIVE_STATES:  # deployed apps' warm containers come back with the server
                for f in self.store.list_functions(app.app_id):
                    if _starts_early(api_pb2.FunctionDef.FromString(f.definition)):
                        self.scheduler.kick(self.pool(f.function_id))
        self._reaper = asyncio.get_running_loop().create_task(self._reap_loop())

    # ---------- apps ----------
    def create(self, req: api_pb2.AppCreateRequest) -> api_pb2.AppCreateResponse:
        env = req.environment_name or "main"
        if req.state not in LIVE_STATES:
            raise invalid("AppCreate state must be EPHEMERAL, DETACHED or DEPLOYED")
        if req.name and not valid_name(req.name):
            raise invalid(f"invalid app name {req.name!r}: use letters, digits, '-', '_' and '.' (max 64)")
        if req.state == api_pb2.APP_STATE_DEPLOYED and not req.name:
            raise invalid("a deployed app needs a name: modal.App('my-app')")
        version = 0
        if req.state == api_pb2.APP_STATE_DEPLOYED:
            versions = self.store.app_versions(req.name, env)
            version = (versions[0].version if versions else 0) + 1
        app = AppRecord(
            app_id=new_id("app"), name=req.name, environment=env, state=req.state, version=version,
            description=req.description or req.name, tag=req.tag, created_at=time.time(),
        )
        self.store.put_app(app)
        self.heartbeats[app.app_id] = time.monotonic()
        return api_pb2.AppCreateResponse(app_id=app.app_id, version=version)

    def require_app(self, app_id: str) -> AppRecord:
        if not is_id(app_id, "app"):
            raise invalid(f"malformed app id {app_id!r}")
        app = self.store.get_app(app_id)
        if app is None:
            raise not_found(f"app {app_id} not found")
        return app

    async def publish(self, req: api_pb2.AppPublishRequest) -> api_pb2.AppPublishResponse:
        app = self.require_app(req.app_id)
        if app.state not in LIVE_STATES:
            raise ApiError("ExecutionError", f"app {app.app_id} is stopped")
        for f in req.code_files:
            if not f.path.startswith("/") or ".." in f.path.split("/"):
                raise invalid(f"code file path {f.path!r} must be absolute and stay inside the container")
            if not is_sha256(f.sha256) or not self.blobs.has(f.sha256):
                raise invalid(f"code file {f.path} refers to blob {f.sha256!r} that was not uploaded")
        tags = set()
        records = []
        for d in req.functions:
            if not d.tag or d.tag in tags:
                raise invalid(f"function tag {d.tag!r} is empty or used twice in this app")
            tags.add(d.tag)
            if not d.serialized and not (d.module_name and d.qualname):
                raise invalid(f"function {d.tag!r} needs module_name and qualname, or a serialized body")
            if not is_id(d.image_id, "image"):
                raise invalid(f"function {d.tag!r} has no valid image id")
            if d.timeout < 0 or d.max_containers < 0 or d.min_containers < 0:
                raise invalid(f"function {d.tag!r}: timeout and container counts must not be negative")
            for sid in d.secret_ids:
                if self.store.get_secret(sid) is None:
                    raise not_found(f"function {d.tag!r} uses secret {sid} that does not exist")
            for nm in d.nfs_mounts:  # network_file_systems=
                path = PurePosixPath(nm.mount_path) if nm.mount_path.startswith("/") else None
                if path is None or ".." in path.parts or str(path) in ("/", "/root", "/tmp", "/run/nodal"):
                    raise invalid(f"function {d.tag!r}: network file system mount path {nm.mount_path!r} must be "
                                  "an absolute path other than /, /root and /tmp")
                nfs_obj = self.store.get_data_object(nm.nfs_id)
                if nfs_obj is None or nfs_obj.kind != api_pb2.DATA_OBJECT_KIND_NETWORK_FILE_SYSTEM:
                    raise not_found(f"function {d.tag!r} mounts network file system {nm.nfs_id!r} that does not exist")
            try:  # CloudBucketMounts in volumes=: a raw client could send any spec
                bucket_mounts.validate_specs(d.bucket_mounts)
            except ApiError as err:
                raise ApiError(err.kind, f"function {d.tag!r}: {err.message}") from None
            records.append(FunctionRecord(new_id("function"), app.app_id, d.tag, d.SerializeToString()))
        for d in req.functions:  # else its containers could never start (and the scheduler would retry forever)
            if self.store.get_image(d.image_id) is None:
                raise not_found(f"function {d.tag!r} uses image {d.image_id}, which this server has never "
                                "built: create it with ImageGetOrCreate first")
        app.code_json = json.dumps([[f.path, f.sha256, f.mode] for f in req.code_files])
        self.store.put_app(app)
        self.store.put_functions(records)
        if app.state == api_pb2.APP_STATE_DEPLOYED:
            self._keep_unchanged_pools(app, records)
            await self._retire_older_versions(app)
        for r in records:
            if _starts_early(api_pb2.FunctionDef.FromString(r.definition)):
                self.scheduler.kick(self.pool(r.function_id))
        self.on_apps_changed()
        return api_pb2.AppPublishResponse(function_ids={r.tag: r.function_id for r in records})

    def _keep_unchanged_pools(self, app: AppRecord, records: list[FunctionRecord]) -> None:
        """A function whose definition and code did not change keeps its warm containers: the
        previous version's pool becomes the new version's."""
        for old in self.store.app_versions(app.name, app.environment):
            if old.app_id == app.app_id or old.state != api_pb2.APP_STATE_DEPLOYED or old.code_json != app.code_json:
                continue
            previous = {f.tag: f for f in self.store.list_functions(old.app_id)}
            for rec in records:
                before = previous.get(rec.tag)
                pool = self.scheduler.pools.get(before.function_id) if before is not None else None
                if pool is None or before.definition != rec.definition or pool.stopped:
                    continue
                del self.scheduler.pools[before.function_id]
                pool.key, pool.function_id, pool.app_id = rec.function_id, rec.function_id, app.app_id
                self.scheduler.pools[rec.function_id] = pool

    async def _retire_older_versions(self, app: AppRecord) -> None:
        """Older deployed versions stop taking calls (their names now resolve to `app`); what they
        are running or have queued finishes first, then their containers stop."""
        for old in self.store.app_versions(app.name, app.environment):
            if old.app_id != app.app_id and old.state == api_pb2.APP_STATE_DEPLOYED:
                old.state, old.stopped_at = api_pb2.APP_STATE_STOPPED, time.time()
                self.store.put_app(old)
                self.heartbeats.pop(old.app_id, None)
                for key, pool in [(k, p) for k, p in self.scheduler.pools.items() if p.app_id == old.app_id]:
                    self.scheduler.drain_pool(key, pool, f"version {app.version} of {app.name!r} was deployed")

    def successor(self, function_id: str) -> FunctionRecord | None:
        """For a function of a version that was replaced by a newer deployment: the function
        with the same tag in the app's live version (calls to the old one go there)."""
        rec = self.store.get_function(function_id)
        app = self.store.get_app(rec.app_id) if rec is not None else None
        if rec is None or app is None or not app.name or app.version == 0:
            return None
        try:
            live = self.live_app_by_name(app.name, app.environment)
        except ApiError:
            return None
        if live.version <= app.version:
            return None
        return next((f for f in self.store.list_functions(live.app_id) if f.tag == rec.tag), None)

    async def rollback(self, req: api_pb2.AppRollbackRequest) -> api_pb2.AppRollbackResponse:
        """Deploy again what version `req.version` (default: the one before the live one) ran,
        as a new version."""
        env = req.environment_name or "main"
        versions = self.store.app_versions(req.name, env)
        if not versions:
            raise not_found(f"app {req.name!r} not found in environment {env!r}; deploy it with `modal deploy`")
        live = self.live_app_by_name(req.name, env)
        target_version = req.version if req.version else live.version - 1
        target = next((v for v in versions if v.version == target_version and v.version), None)
        if target is None:
            known = ", ".join(str(v.version) for v in sorted(versions, key=lambda v: v.version) if v.version)
            raise not_found(f"app {req.name!r} has no version {target_version} (its versions: {known})")
        if target.app_id == live.app_id:
            raise invalid(f"version {target_version} of {req.name!r} is the live version already")
        created = self.create(api_pb2.AppCreateRequest(
            name=req.name, environment_name=env, state=api_pb2.APP_STATE_DEPLOYED,
            description=target.description, tag=f"rollback to v{target_version}",
        ))
        code = [api_pb2.CodeFile(path=p, sha256=sha, mode=mode) for p, sha, mode in json.loads(target.code_json)]
        functions = [api_pb2.FunctionDef.FromString(f.definition) for f in self.store.list_functions(target.app_id)]
        await self.publish(api_pb2.AppPublishRequest(app_id=created.app_id, code_files=code, functions=functions))
        return api_pb2.AppRollbackResponse(app_id=created.app_id, version=created.version)

    def heartbeat(self, app_id: str) -> None:
        self.require_app(app_id)
        self.heartbeats[app_id] = time.monotonic()

    async def stop(self, req: api_pb2.AppStopRequest) -> None:
        if req.app_id:
            app = self.require_app(req.app_id)
        else:
            app = self.live_app_by_name(req.name, req.environment_name or "main")
        await self._stop(app, "the app was stopped")

    async def _stop(self, app: AppRecord, reason: str) -> None:
        if app.state == api_pb2.APP_STATE_STOPPED:
            return
        app.state, app.stopped_at = api_pb2.APP_STATE_STOPPED, time.time()
        self.store.put_app(app)
        self.on_apps_changed()  # its schedules stop now
        self.heartbeats.pop(app.app_id, None)
        for pool in [p for p in self.scheduler.pools.values() if p.app_id == app.app_id]:
            await self.scheduler.stop_pool(pool, f"{reason} ({app.app_id})")
        self.logs.close_app(app.app_id)
        self._stopped(app.app_id)

    def _stopped(self, app_id: str) -> None:
        for hook in self.on_stopped:
            try:
                hook(app_id)
            except Exception:  # noqa: BLE001 - one failing hook must not keep the app from stopping
                log.exception("on_stopped hook for app %s failed", app_id)

    def live_app_by_name(self, name: str, environment: str) -> AppRecord:
        for app in self.store.app_versions(name, environment):
            if app.state in LIVE_STATES:
                return app
        raise not_found(f"app {name!r} not found in environment {environment!r}; deploy it with `modal deploy`")

    def lookup(self, req: api_pb2.AppLookupRequest) -> api_pb2.AppLookupResponse:
        env = req.environment_name or "main"
        try:
            app = self.live_app_by_name(req.name, env)
        except ApiError:
            if not req.create_if_missing:
                raise
            created = self.create(
                api_pb2.AppCreateRequest(name=req.name, environment_name=env, state=api_pb2.APP_STATE_DEPLOYED)
            )
            app = self.require_app(created.app_id)
        fns = self.store.list_functions(app.app_id)
        return api_pb2.AppLookupResponse(app_id=app.app_id, function_ids={f.tag: f.function_id for f in fns})

    def info(self, app: AppRecord) -> api_pb2.AppInfo:
        running = sum(len(p.containers) for p in self.scheduler.pools.values() if p.app_id == app.app_id)
        return api_pb2.AppInfo(
            app_id=app.app_id, name=app.name, description=app.description, state=app.state,
            version=app.version, created_at=app.created_at, stopped_at=app.stopped_at,
            n_running_containers=running, tag=app.tag,
        )

    # ---------- functions ----------
    def function_def(self, function_id: str) -> tuple[FunctionRecord, api_pb2.FunctionDef]:
        if not is_id(function_id, "function"):
            raise invalid(f"malformed function id {function_id!r}")
        rec = self.store.get_function(function_id)
        if rec is None:
            raise not_found(f"function {function_id} not found")
        return rec, api_pb2.FunctionDef.FromString(rec.definition)

    def pool(self, key: str) -> Pool:
        """The pool serving a function id, or a bound Cls instance ("fu-…/…": parameters and
        option overrides); a bound pool runs the class's definition with its overrides applied."""
        pool = self.scheduler.pools.get(key)
        if pool is not None:
            return pool
        params = b""
        function_id = key
        overrides = b""
        if "/" in key:
            bound = self.store.get_bound_params(key)
            if bound is None:
                raise not_found(f"bound function {key} not found")
            function_id, params, overrides = bound.function_id, bound.params, bound.overrides
        rec, definition = self.function_def(function_id)
        app = self.require_app(rec.app_id)
        if app.state not in LIVE_STATES:
            newer = self.successor(function_id)
            if newer is not None:  # a call to a replaced version runs on the live one
                if "/" not in key:
                    return self.pool(newer.function_id)
                return self.pool(self.bind_params(newer.function_id, params, api_pb2.FunctionOverrides.FromString(overrides)))
            raise ApiError("ExecutionError", f"app {app.name or app.app_id} is stopped; its functions can't run")
        if overrides:
            definition = apply_overrides(definition, api_pb2.FunctionOverrides.FromString(overrides))
        pool = Pool(key, function_id, rec.app_id, definition, params)
        self.scheduler.pools[key] = pool
        return pool

    def bind_params(self, function_id: str, params: bytes,
                    overrides: api_pb2.FunctionOverrides | None = None) -> str:
        """Bind a class to parameters and option overrides: the id of the pool that serves them."""
        _, definition = self.function_def(function_id)
        if not definition.is_class:
            raise invalid(f"{definition.tag} is not a class; only classes take parameters")
        from nodal.store.blob_store import sha256_hex

        extra = b""
        if overrides is not None and overrides.ByteSize():
            self._validate_overrides(definition, overrides)
            extra = overrides.SerializeToString(deterministic=True)
        if extra:
            digest = sha256_hex(len(params).to_bytes(8, "big") + params + extra)
        else:
            digest = sha256_hex(params)  # unchanged for plain parameter sets: their ids stay stable
        bound_id = f"{function_id}/{digest[:24]}"
        self.store.put_bound_params(BoundFunctionRecord(bound_id, function_id, params, extra))
        if extra and overrides.HasField("min_containers") and overrides.min_containers:
            self.scheduler.kick(self.pool(bound_id))  # warm containers start now, as at publish
        return bound_id

    def _validate_overrides(self, definition: api_pb2.FunctionDef, o: api_pb2.FunctionOverrides) -> None:
        tag = definition.tag
        for name, (request, limit) in (("cpu", (o.cpu.cpu, o.cpu.cpu_limit)),
                                       ("memory", (o.memory.memory_mb, o.memory.memory_limit_mb))):
            if o.HasField(name) and not (request > 0 and (limit == 0 or limit >= request)):
                raise invalid(f"{tag}: {name} override must be positive, with a limit of 0 or >= the request")
        for sid in o.secrets.secret_ids:
            if self.store.get_secret(sid) is None:
                raise not_found(f"{tag}: override uses secret {sid} that does not exist")
        for k in o.env:
            if not k or "=" in k or "\0" in k:
                raise invalid(f"{tag}: invalid environment variable name {k!r} in env override")
        if o.HasField("retries"):
            r = o.retries
            if not all(v >= 0 for v in (r.max_retries, r.backoff_coefficient, r.initial_delay, r.max_delay)):
                raise invalid(f"{tag}: retry policy override must not be negative")
        if o.HasField("timeout") and not o.timeout > 0:
            raise invalid(f"{tag}: timeout override must be positive")
        for name in ("min_containers", "max_containers", "buffer_containers", "scaledown_window"):
            if o.HasField(name) and not getattr(o, name) >= 0:  # NaN included
                raise invalid(f"{tag}: {name} override must not be negative")
        if o.HasField("concurrency") and not (
            o.concurrency.max_inputs >= 1 and 0 <= o.concurrency.target_inputs <= o.concurrency.max_inputs
        ):
            raise invalid(f"{tag}: concurrency override needs max_inputs >= 1 "
                          "and 0 <= target_inputs <= max_inputs")
        if o.HasField("batching") and not (
            1 <= o.batching.max_batch_size <= MAX_BATCH_SIZE and 0 <= o.batching.wait_ms < MAX_BATCH_WAIT_MS
        ):
            raise invalid(f"{tag}: batching override needs 1 <= max_batch_size <= {MAX_BATCH_SIZE} "
                          f"and 0 <= wait_ms < {MAX_BATCH_WAIT_MS}")
        if o.HasField("volumes"):
            self._validate_volume_overrides(tag, o.volumes)
        d = apply_overrides(definition, o)
        if d.max_containers and d.min_containers > d.max_containers:
            raise invalid(f"{tag}: min_containers ({d.min_containers}) can't exceed "
                          f"max_containers ({d.max_containers})")

    def _validate_volume_overrides(self, tag: str, given: api_pb2.FunctionOverrides.Volumes) -> None:
        """volumes= of with_options: real volumes at paths a container may mount over, and bucket
        mounts a client could have made (bucket_mounts.validate_specs), one mount per path."""
        paths: set[str] = set()
        for vm in given.volume_mounts:
            path = vm.mount_path.rstrip("/")
            if not vm.mount_path.startswith("/") or path in ("", "/root", "/tmp", "/run/nodal") or ".." in path.split("/"):
                raise invalid(f"{tag}: volume mount path {vm.mount_path!r} in the volumes override must be an "
                              "absolute path other than /, /root and /tmp")
            volume = self.store.get_data_object(vm.volume_id) if vm.volume_id else None
            if volume is None or volume.kind != api_pb2.DATA_OBJECT_KIND_VOLUME:
                raise not_found(f"{tag}: the volumes override mounts volume {vm.volume_id!r}, which does not exist")
            if path in paths:
                raise invalid(f"{tag}: two volumes at {vm.mount_path!r} in the volumes override")
            paths.add(path)
        try:
            bucket_mounts.validate_specs(given.bucket_mounts)
        except ApiError as err:
            raise ApiError(err.kind, f"{tag}: {err.message}") from None
        for bm in given.bucket_mounts:
            if bm.mount_path.rstrip("/") in paths:
                raise invalid(f"{tag}: {bm.mount_path!r} has both a volume and a bucket mount: give each its own path")

    def app_function_ids(self, app_id: str) -> dict[str, str]:
        return {f.tag: f.function_id for f in self.store.list_functions(app_id)}

    async def _reap_loop(self) -> None:
        while True:
            await asyncio.sleep(5.0)
            now = time.monotonic()
            for app_id, seen in list(self.heartbeats.items()):
                if now - seen < HEARTBEAT_TIMEOUT:
                    continue
                app = self.store.get_app(app_id)
                if app is not None and app.state == api_pb2.APP_STATE_EPHEMERAL:
                    log.info("stopping app %s: its client stopped sending heartbeats", app_id)
                    await self._stop(app, "its client went away")
                else:
                    self.heartbeats.pop(app_id, None)
