"""Running and deploying apps: publish functions to the server, keep the app alive, show its logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modal import _web_urls, output
from modal._code_files import collect, module_location, needs_serialization
from modal._serialization import serialize
from modal._utils.async_utils import live_function, run_sync
from modal.client import Client, _default_client
from modal.exception import InvalidError, RemoteError
from nodal.proto import api_pb2

if TYPE_CHECKING:
    from modal.app import App, _Registered

HEARTBEAT_INTERVAL = 15.0
LOG_DRAIN_DEADLINE = 5.0


@dataclass
class DeployResult:
    """What `deploy_app` returns."""

    app_id: str
    app_page_url: str
    app_logs_url: str
    warnings: list[str] = field(default_factory=list)


def _image_spec(
    image: Any, mounts: list[api_pb2.CodeFile] | None = None, secret_ids: list[list[str]] | None = None
) -> api_pb2.ImageSpec:
    steps = image._steps()
    ids = secret_ids or [[] for _ in steps]
    return api_pb2.ImageSpec(steps=[
        api_pb2.ImageStep(
            kind=s.kind, spec_json=json.dumps(s.spec, sort_keys=True), force_build=s.force_build, secret_ids=sids
        )
        for s, sids in zip(steps, ids)
    ], mounts=mounts or [])


async def _resolve_data_mounts(spec: api_pb2.ImageSpec, client: Client) -> None:
    """Steps with `volumes=` / `network_file_systems=` (run_function): the objects, looked up now."""
    from modal._image_specs import data_mounts_of

    for step in spec.steps:
        found = data_mounts_of(json.loads(step.spec_json))
        if found is not None:
            volumes, network_file_systems = found
            step.volume_mounts.extend(await _volume_mounts(volumes, client))
            step.nfs_mounts.extend(await _nfs_mounts(network_file_systems, client))


async def _build_image(client: Client, image: Any, app_id: str, cache: dict[str, str]) -> str:
    # add_local_* files travel as blobs: copy=True ones are built into a layer by the server,
    # copy=False ones are bound into containers when they start.
    copied, mounted = image._local_files(copy=True), image._local_files(copy=False)
    if copied:
        await _upload_code(client, copied)
    mounts = await _upload_code(client, mounted) if mounted else []
    # build-time secrets (secrets= of build steps): resolved to ids, decrypted only by the builder
    secret_ids = [[await sec._resolve(client, app_id) for sec in secs] for secs in image._step_secrets()]
    spec = _image_spec(image, mounts, secret_ids)
    await _resolve_data_mounts(spec, client)
    key = spec.SerializeToString(deterministic=True).hex()
    if key in cache:
        return cache[key]
    resp = await client.stub.ImageGetOrCreate(api_pb2.ImageGetOrCreateRequest(spec=spec, app_id=app_id))
    if resp.built:
        cache[key] = resp.image_id
        return resp.image_id
    shown = False
    async for event in client.stub.ImageJoin.stream(api_pb2.ImageJoinRequest(image_id=resp.image_id)):
        if event.log:
            if not shown:
                output.status(f"Building image {resp.image_id}")
                shown = True
            output.container_line("stderr", event.log)
        if event.done:
            if not event.success:
                raise RemoteError(f"Image build for {resp.image_id} failed: {event.error}")
            break
    cache[key] = resp.image_id
    return resp.image_id


async def _upload_code(client: Client, files: dict[str, Path]) -> list[api_pb2.CodeFile]:
    from nodal.store.blob_store import sha256_hex

    contents = {path: local.read_bytes() for path, local in files.items()}
    digests = {path: sha256_hex(data) for path, data in contents.items()}
    missing = set((await client.stub.BlobHas(api_pb2.BlobHasRequest(sha256=sorted(set(digests.values()))))).missing)
    for path, data in contents.items():
        if digests[path] in missing:
            await client.stub.BlobPut(api_pb2.BlobPutRequest(data=data, sha256=digests[path]))
            missing.discard(digests[path])
    return [api_pb2.CodeFile(path=p, sha256=d, mode=0o644) for p, d in sorted(digests.items())]


async def _nfs_mounts(network_file_systems: dict, client: Client | None = None) -> list[api_pb2.NfsMount]:
    """`network_file_systems={"/path": nfs}` as mounts (each file system looked up or created now,
    through `client` unless the handle has a client of its own)."""
    from modal.network_file_system import NetworkFileSystem

    out = []
    for mount_path, nfs in sorted(network_file_systems.items(), key=lambda kv: str(kv[0])):
        path = str(mount_path)
        if not isinstance(nfs, NetworkFileSystem):
            raise InvalidError(
                f"network_file_systems={{{path!r}: ...}} needs a modal.NetworkFileSystem, not {type(nfs).__name__}"
            )
        if not path.startswith("/") or path.rstrip("/") in ("", "/root", "/tmp", "/run/nodal") or ".." in path.split("/"):
            raise InvalidError(
                f"network file system mount path {path!r} must be an absolute path other than /, /root and /tmp"
            )
        if client is not None and nfs._client is None:
            nfs._client = client
        _c, nfs_id = await nfs._ids()
        out.append(api_pb2.NfsMount(mount_path=path, nfs_id=nfs_id))
    return out


async def _volume_mounts(volumes: dict, client: Client | None = None) -> list[api_pb2.VolumeMount]:
    """`volumes={"/path": vol}` as mounts (each volume looked up or created now, through `client`
    unless the handle has a client of its own: it may be another server's)."""
    from modal.volume import Volume

    mounts = []
    for mount_path, vol in sorted(volumes.items(), key=lambda kv: str(kv[0])):
        if not isinstance(vol, Volume):
            raise InvalidError(f"volumes={{{mount_path!r}: ...}} needs a modal.Volume, not {type(vol).__name__}")
        if not str(mount_path).startswith("/") or str(mount_path).rstrip("/") in ("", "/root", "/run/nodal"):
            raise InvalidError(f"volume mount path {mount_path!r} must be an absolute path other than / and /root")
        if vol._client is None:
            vol._client = client
        _c, volume_id = await vol._ids()
        mounts.append(api_pb2.VolumeMount(mount_path=str(mount_path), volume_id=volume_id))
    return mounts


def _split_bucket_mounts(volumes: dict) -> tuple[dict, list]:
    """`volumes=` split into modal.Volume entries and sorted (path, modal.CloudBucketMount) pairs."""
    from modal.cloud_bucket_mount import CloudBucketMount

    plain, buckets = {}, []
    for mount_path, obj in volumes.items():
        if not isinstance(obj, CloudBucketMount):
            plain[mount_path] = obj
            continue
        path = str(mount_path)
        if not path.startswith("/") or path.rstrip("/") in ("", "/root", "/tmp", "/run/nodal") or ".." in path.split("/"):
            raise InvalidError(f"bucket mount path {path!r} must be an absolute path other than /, /root and /tmp")
        buckets.append((path.rstrip("/"), obj))
    return plain, sorted(buckets, key=lambda kv: kv[0])


async def _function_def(client: Client, reg: _Registered, app_id: str, image_cache: dict[str, str]) -> api_pb2.FunctionDef:
    from modal.image import Image

    opts = reg.options
    image_id = await _build_image(client, opts.image or Image.debian_slim(), app_id, image_cache)
    secret_ids = [await s._resolve(client, app_id) for s in opts.secrets]
    module_name, qualname, _ = module_location(reg.raw)
    serialized = b""
    if opts.serialized or needs_serialization(reg.raw):
        serialized = serialize(reg.raw)
    nfs_mounts = await _nfs_mounts(opts.network_file_systems, client)
    volumes, bucket_mounts = _split_bucket_mounts(opts.volumes)
    mounts = await _volume_mounts(volumes, client)
    buckets = [await bm._to_proto(path, client, app_id) for path, bm in bucket_mounts]
    fd = opts.to_proto(
        tag=reg.function.tag,
        module_name=module_name,
        qualname=qualname,
        serialized=serialized,
        is_class=reg.is_class,
        is_generator=reg.function.is_generator,
        is_async=reg.is_async,
        image_id=image_id,
        secret_ids=secret_ids,
        batch_max_size=reg.batch_max_size,
        batch_wait_ms=reg.batch_wait_ms,
        method_names=list(reg.method_names),
        generator_methods=list(reg.generator_methods),
    )
    fd.volume_mounts.extend(mounts)
    fd.bucket_mounts.extend(buckets)
    fd.nfs_mounts.extend(nfs_mounts)
    fd.web_endpoints.extend(reg.web_endpoints)  # modal.partial_function web decorators
    return fd


async def _publish(app: App, client: Client, app_id: str) -> dict[str, str]:
    image_cache: dict[str, str] = {}
    defs = [await _function_def(client, reg, app_id, image_cache) for reg in app._registered.values()]
    code = await _upload_code(client, collect(reg.raw for reg in app._registered.values()))
    resp = await client.stub.AppPublish(api_pb2.AppPublishRequest(app_id=app_id, functions=defs, code_files=code))
    return dict(resp.function_ids)


async def _heartbeat(client: Client, app_id: str) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_INTERVAL)
        try:
            await client.stub.AppHeartbeat(api_pb2.AppHeartbeatRequest(app_id=app_id))
        except Exception:  # noqa: BLE001 - the server may be restarting; keep trying
            pass


async def _follow_logs(client: Client, app_id: str) -> None:
    try:
        async for entry in client.stub.AppLogs.stream(api_pb2.AppLogsRequest(app_id=app_id, follow=True)):
            output.container_line(entry.stream, entry.data)
    except Exception:  # noqa: BLE001 - logs are best effort; the app's results are not affected
        pass


@contextlib.asynccontextmanager
async def _run(app: App, client: Client | None, detach: bool, interactive: bool,
               environment_name: str | None) -> AsyncIterator[App]:
    if app._running:
        raise InvalidError(f"{app!r} is already running")
    client = client or await _default_client()
    state = api_pb2.APP_STATE_DETACHED if detach else api_pb2.APP_STATE_EPHEMERAL
    created = await client.stub.AppCreate(api_pb2.AppCreateRequest(
        name=app.name or "", description=app.description or "", state=state,
        environment_name=environment_name or ""))
    app._app_id, app._running, app._interactive = created.app_id, True, interactive
    app._run_client, app._run_started = client, time.monotonic()
    logs = asyncio.get_running_loop().create_task(_follow_logs(client, created.app_id)) if output.output_enabled() else None
    heartbeat = asyncio.get_running_loop().create_task(_heartbeat(client, created.app_id))
    frontend = None
    ok = False
    try:
        if interactive:  # modal.interact() and breakpoint() in its containers reach this terminal
            frontend = await _interactive_frontend(client, created.app_id)
        output.status(f"Initialized app {created.app_id}")
        app._hydrate_all(await _publish(app, client, created.app_id), client)
        output.status("Created objects.")
        await _web_urls.show(app, client)
        yield app
        ok = True
    finally:
        heartbeat.cancel()
        app._running = False
        if not detach or not ok:
            try:
                await client.stub.AppStop(api_pb2.AppStopRequest(app_id=created.app_id))
            except Exception:  # noqa: BLE001 - stopping is best effort when the server is gone
                pass
        if frontend is not None:  # after the stop: a container's session ends once it has stopped
            await frontend.close()
        if logs is not None:
            try:
                await asyncio.wait_for(logs, LOG_DRAIN_DEADLINE)
            except (TimeoutError, asyncio.CancelledError):
                logs.cancel()
        if ok:
            output.status(f"App {'detached' if detach else 'completed'}.")


FRONTEND_TIMEOUT = 10.0  # seconds for the server to register an interactive frontend


async def _interactive_frontend(client: Client, app_id: str) -> Any:
    """This process as the app's interactive frontend (modal._interact.Frontend), registered
    with the server before any of the app's containers can ask for it."""
    from modal._interact import Frontend, attach_frontend

    frontend = Frontend()
    registered = asyncio.get_running_loop().create_future()
    frontend.task = asyncio.get_running_loop().create_task(attach_frontend(client, app_id, registered, frontend))
    try:
        await asyncio.wait_for(asyncio.shield(registered), FRONTEND_TIMEOUT)
    except BaseException:
        frontend.task.cancel()
        raise
    return frontend


@contextlib.contextmanager
def _sync_run(app: App, **kwargs: Any) -> Iterator[App]:
    cm = _run(app, **kwargs)
    run_sync(cm.__aenter__())
    try:
        yield app
    except BaseException as exc:
        run_sync(cm.__aexit__(type(exc), exc, exc.__traceback__))
        raise
    run_sync(cm.__aexit__(None, None, None))


class _RunContext:
    """`with app.run():` and `async with app.run.aio():` both work."""

    def __init__(self, app: App, **kwargs: Any) -> None:
        self._app, self._kwargs = app, kwargs
        self._sync: Any = None
        self._async: Any = None

    def __enter__(self) -> App:
        self._sync = _sync_run(self._app, **self._kwargs)
        return self._sync.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self._sync.__exit__(*exc)

    async def __aenter__(self) -> App:
        from modal._utils.async_utils import run_aio

        self._async = _run(self._app, **self._kwargs)
        return await run_aio(self._async.__aenter__())

    async def __aexit__(self, *exc: Any) -> Any:
        from modal._utils.async_utils import run_aio

        return await run_aio(self._async.__aexit__(*exc))


def run_app(app: App, *, client: Client | None = None, detach: bool = False, interactive: bool = False,
            environment_name: str | None = None) -> _RunContext:
    return _RunContext(app, client=client, detach=detach, interactive=interactive, environment_name=environment_name)


async def _deploy(app: App, *, name: str | None = None, environment_name: str | None = None, tag: str = "",
                  client: Client | None = None) -> DeployResult:
    name = name or app.name
    if not name:
        raise InvalidError("a deployed app needs a name: modal.App('my-app') or deploy(name=...)")
    client = client or await _default_client()
    created = await client.stub.AppCreate(api_pb2.AppCreateRequest(
        name=name, description=app.description or name, state=api_pb2.APP_STATE_DEPLOYED,
        environment_name=environment_name or "", tag=tag))
    app._app_id = created.app_id
    app._hydrate_all(await _publish(app, client, created.app_id), client)
    output.status(f"App {name!r} deployed as version v{created.version} ({created.app_id})")
    await _web_urls.show(app, client)
    base = await _dashboard_app_url(app, client, created.app_id)
    if base.startswith("http"):
        output.status(f"View the deployment on the dashboard: {base}")
    return DeployResult(app_id=created.app_id, app_page_url=base, app_logs_url=f"{base}/logs")


async def _dashboard_app_url(app: App, client: Client, app_id: str) -> str:
    """The app's page on the server's dashboard (`{gateway}/_nodal/apps/{app_id}`), or a
    `nodal://apps/{app_id}` placeholder when the server names no gateway URL."""
    fid = next((r.function._function_id for r in app._registered.values() if r.function._function_id), None)
    if fid:
        try:
            resp = await client.stub.WebInfo(api_pb2.WebInfoRequest(function_id=fid.split("/", 1)[0]))
        except Exception:  # noqa: BLE001 - the URL is a convenience; a deploy never fails over it
            resp = None
        if resp is not None and resp.gateway_url:
            return f"{resp.gateway_url}/_nodal/apps/{app_id}"
    return f"nodal://apps/{app_id}"


@live_function
async def deploy_app(app: App, name: str | None = None, namespace: Any = None, client: Client | None = None,
                     environment_name: str | None = None, tag: str = "") -> DeployResult:
    """Deploy an app: a new named version that runs until stopped and survives server restarts."""
    return await _deploy(app, name=name, environment_name=environment_name, tag=tag, client=client)


def interactive_shell(app: App, cmds: list[str] | None = None, environment_name: str = "", pty: bool = True,
                      **kwargs: Any) -> int:
    """Run an interactive command (a shell by default) in a new sandbox of `app`, attached to this
    terminal on a real PTY; `kwargs` are `Sandbox.create` options (image, secrets, volumes, ...).
    Returns the command's exit code; the sandbox ends with it."""
    from modal._terminal import run_attached
    from modal.sandbox import Sandbox

    command = list(cmds or ["/bin/bash"])
    with run_app(app, environment_name=environment_name or None):
        sb = Sandbox.create(app=app, **kwargs)
        try:
            req = api_pb2.ProcessStreamRequest(exec=api_pb2.ProcessExec(sandbox_id=sb.object_id, command=command))
            if pty:
                return run_attached(req, sb._client)
            proc = sb.exec(*command)
            return proc.wait()
        finally:
            sb.terminate()
