"""The control plane process: wires stores, runtime, scheduler and the gRPC API together."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
from pathlib import Path

import grpc

from nodal import paths
from nodal.images.builder import ImageBuilder
from nodal.proto import api_pb2_grpc
from nodal.runtime.factory import open_runtime
from nodal.server.apps import AppService
from nodal.server.audit import AuditLog
from nodal.server.auth.gate import AuthGate, servicer_handlers
from nodal.server.auth.identity import DEFAULT_WORKSPACE
from nodal.server.auth.limits import Limits
from nodal.server.auth.scope import Scope
from nodal.server.auth.tokens import TokenService
from nodal.server.auth.wiring import (
    container_identities,
    container_secret_ids,
    ensure_initial_token,
    owner_resolvers,
)
from nodal.server.bucket_mounts import BucketMountService
from nodal.server.build_mounts import build_mounter
from nodal.server.call_router import CallService
from nodal.server.config import apply_server_config
from nodal.server.container_specs import ContainerLauncher
from nodal.server.dashboard import Dashboard
from nodal.server.dashboard import Services as DashboardServices
from nodal.server.dict_queue import DataService
from nodal.server.framed_streams import FramedStreamServer
from nodal.server.gateway import Gateway
from nodal.server.images import ImageService
from nodal.server.logs import LogHub
from nodal.server.nfs import NfsService
from nodal.server.sandbox_tunnels import TunnelService
from nodal.server.sandboxes import SandboxService
from nodal.server.scheduler import GPU_FALLBACK_MODES, Scheduler
from nodal.server.schedules import ScheduleRunner
from nodal.server.secret_keys import SecretKeyError
from nodal.server.secrets import SecretService, load_key
from nodal.server.servicer import NodalServicer
from nodal.server.spares import SpareContainers
from nodal.server.volumes import VolumeService
from nodal.store.blobs.factory import open_blob_store
from nodal.store.factory import open_metadata_store

log = logging.getLogger("nodal.server")

MAX_REQUEST_BYTES = 80 * 1024 * 1024  # default of NODAL_MAX_REQUEST_BYTES


def grpc_options() -> list[tuple[str, int]]:
    """Server options; NODAL_MAX_REQUEST_BYTES bounds one request message (RequestSizeError beyond)."""
    raw = os.environ.get("NODAL_MAX_REQUEST_BYTES", "").strip()
    try:
        limit = int(raw) if raw else MAX_REQUEST_BYTES
    except ValueError:
        raise SystemExit(f"NODAL_MAX_REQUEST_BYTES must be a number of bytes, not {raw!r}") from None
    return [
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", 80 * 1024 * 1024),
        ("grpc.so_reuseport", 0),
    ]


class AlreadyRunning(RuntimeError):
    pass


def _take_lock() -> int:
    """One server per NODAL_HOME: an exclusive lock held for the process's life."""
    fd = os.open(paths.nodal_home() / "server.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(f"a Nodal server already runs for {paths.nodal_home()}") from None
    return fd


def gpu_fallback_mode() -> str:
    """NODAL_GPU_FALLBACK: what a function asking for a GPU type no node has gets. "cpu" (the
    default for this single-machine server: run it on CPU, with a warning) or "queue" (wait for
    one until its timeout, as a cluster does)."""
    mode = os.environ.get("NODAL_GPU_FALLBACK", "cpu").strip().lower()
    if mode not in GPU_FALLBACK_MODES:
        raise SystemExit(f"NODAL_GPU_FALLBACK must be one of {', '.join(GPU_FALLBACK_MODES)}, not {mode!r}")
    return mode


async def serve(socket_path: Path | None = None) -> None:
    apply_server_config()  # settings from server.toml for the env vars not set
    paths.ensure_dirs()
    _take_lock()
    socket_path = socket_path or paths.socket_path()
    socket_path.unlink(missing_ok=True)

    store = open_metadata_store()  # SQLite under NODAL_HOME, or PostgreSQL by NODAL_DATABASE_URL
    secrets = SecretService(store, load_key())  # creates $NODAL_HOME/secret.key on first start
    blobs = open_blob_store()  # a directory (default: $NODAL_HOME/blobs) or s3:// by NODAL_BLOB_URL
    logs = LogHub(paths.logs_dir() / "apps")
    runtime = open_runtime()  # LocalRuntime, or RayRuntime by NODAL_RUNTIME=ray (nodal.runtime.factory)
    images = ImageService(ImageBuilder(paths.images_dir()), store)
    images.secrets = secrets  # image steps' secrets= (one service: it knows the current key)
    scheduler = Scheduler(runtime, launcher=None, gpu_fallback=gpu_fallback_mode())  # type: ignore[arg-type]
    apps = AppService(store, blobs, scheduler, logs)
    scheduler.launcher = ContainerLauncher(
        runtime, apps, images, blobs, logs, paths.containers_socket_path(), on_exit=scheduler.container_exited
    )
    scheduler.launcher.secrets = secrets
    scheduler.launcher.spares = SpareContainers(  # pre-started containers: faster cold starts
        runtime, scheduler.launcher.start_spare, store, code_size=lambda sha: blobs.path(sha).stat().st_size,
        limit=int(os.environ.get("NODAL_SPARE_CONTAINERS", "") or 1))

    def warn(pool, message: str) -> None:  # reaches `modal run` through the app's logs
        log.warning("%s", message)
        logs.append(pool.app_id, f"[nodal] warning: {message}", stream="stderr", function_name=pool.name)

    scheduler.on_warning = warn
    images.builder.gpus, images.builder.gpu_fallback = runtime.gpus, scheduler.gpu_fallback  # Image steps' gpu=
    images.builder.fetch_blob = blobs.path  # copy steps' files, fetched from an s3:// blob store when not cached
    volumes = VolumeService(store, blobs, paths.containers_dir().parent / "volume-views")  # modal.Volume
    scheduler.launcher.volumes = volumes
    nfs = NfsService(store, paths.nodal_home() / "nfs")  # modal.NetworkFileSystem: shared directories
    scheduler.launcher.nfs = nfs
    buckets = BucketMountService(paths.nodal_home() / "bucket-mounts", secrets.env_for)  # CloudBucketMount
    scheduler.launcher.buckets = buckets
    images.builder.attach_data_mounts = build_mounter(volumes, nfs)  # Image.run_function(volumes=)
    calls = CallService(apps, scheduler, store, blobs)
    schedules = ScheduleRunner(store, calls.spawn, spawn_each=calls.spawn_each)  # scheduled functions of live apps
    gateway = Gateway(apps, scheduler)  # web endpoints over HTTP
    scheduler.launcher.web_gone = gateway.container_gone

    def apps_changed() -> None:
        schedules.apps_changed()
        gateway.routes_changed()

    apps.on_apps_changed = apps_changed

    data = DataService(store)  # modal.Dict and modal.Queue
    servicer = NodalServicer(apps, calls, scheduler, images, blobs, logs, data=data, secrets=secrets)
    servicer.volumes = volumes
    servicer.nfs = nfs
    servicer.buckets = buckets
    data.on_delete.append(nfs.object_deleted)
    apps.on_stopped.append(data.delete_app_objects)  # ephemeral Dicts/Queues go with their app
    sandboxes = SandboxService(store, runtime, images, apps, logs, secrets=secrets, volumes=volumes)
    servicer.sandboxes = sandboxes  # modal.Sandbox, modal container, modal shell
    sandboxes.scheduler = scheduler  # function containers: modal container list/stop, modal.forward
    sandboxes.nfs = nfs  # network_file_systems= on sandboxes
    sandboxes.tunnels = TunnelService(runtime, paths.nodal_home() / "tunnels")  # ports relayed into containers
    _chain_apps_changed(apps, sandboxes)
    servicer.gateway = gateway
    audit = AuditLog(store)
    servicer.audit = secrets.audit = audit
    servicer.tokens = tokens = TokenService(store)
    ensure_initial_token(tokens)
    servicer.scope = scope = Scope({}, container_secrets=container_secret_ids(store, servicer.container_secrets_created))
    scope.resolvers = owner_resolvers(store, calls, scheduler, scope.owner)
    scope.other_workspaces = any(w != DEFAULT_WORKSPACE for w in store.list_workspaces())
    limits = Limits()
    containers = container_identities(scheduler, store)
    gateway.dashboard = Dashboard(DashboardServices(  # the web UI, under /_nodal/ on the gateway
        store=store, apps=apps, scheduler=scheduler, logs=logs, volumes=volumes, blobs=blobs, secrets=secrets,
        tokens=tokens, gateway=gateway, schedules=schedules, calls=calls, audit=audit))

    handlers = servicer_handlers(servicer, api_pb2_grpc.add_NodalServicer_to_server)

    def listener(gate: AuthGate) -> grpc.aio.Server:
        server = grpc.aio.server(options=grpc_options())
        server.add_generic_rpc_handlers((gate,))
        return server

    await gateway.start()  # before the API answers: its URLs are known from the first request
    owner_gate = AuthGate(handlers, tokens, containers, scope, limits, trust_owner=True)
    server = listener(owner_gate)  # the owner's socket: trusted by its file permission
    server.add_insecure_port(f"unix://{socket_path}")
    guarded_gate = AuthGate(handlers, tokens, containers, scope, limits, trust_owner=False)
    guarded = listener(guarded_gate)  # containers' socket and the TLS port: credentials needed
    containers_socket = paths.containers_socket_path()
    containers_socket.unlink(missing_ok=True)
    guarded.add_insecure_port(f"unix://{containers_socket}")
    remote, tls_files = _tls_listener(guarded)
    await server.start()
    await guarded.start()
    # Dict/Queue ops answered as their frames arrive (each checked by the gate's StreamGuard).
    inline = {"DataStream": lambda request: data.answer(request.ops)}
    tls_streams = FramedStreamServer(guarded_gate, inline)  # the hot streams framed over TLS too (guarded: tokens needed)
    if remote and os.environ.get("NODAL_STREAMS", "").lower() != "grpc":
        port = await _tls_streams(tls_streams, remote, tls_files)
        servicer.streams_tls_port = scheduler.launcher.streams_tls_port = port
    # The hot streams also on framed sockets beside the two unix ones (nodal.proto.framing).
    # NODAL_STREAMS=grpc keeps every stream on gRPC (to compare the two, or to rule this out).
    owner_streams, container_streams = FramedStreamServer(owner_gate, inline), FramedStreamServer(guarded_gate, inline)
    if os.environ.get("NODAL_STREAMS", "").lower() != "grpc":
        if await owner_streams.start(paths.streams_socket_for(socket_path)):
            servicer.streams_socket = str(owner_streams.path)
        if await container_streams.start(paths.streams_socket_for(containers_socket)):
            scheduler.launcher.streams_socket_path = container_streams.path
    os.chmod(socket_path, 0o600)
    os.chmod(containers_socket, 0o600)
    scheduler.start()
    data.start()
    apps.start()
    resumed = calls.restore()
    sandboxes.restore()
    schedules.start()
    paths.pid_path().write_text(str(os.getpid()))
    log.info("nodal server %d listening on %s%s (resumed %d spawned calls)", os.getpid(), socket_path,
             f" and {remote} (TLS)" if remote else "", resumed)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watched = os.environ.get("NODAL_EXIT_WITH_PID")
    if watched:
        loop.create_task(_stop_when_gone(int(watched), stop))
    await stop.wait()
    log.info("shutting down")
    await schedules.stop()
    await gateway.stop()
    await sandboxes.shutdown()
    scheduler.launcher.spares.stop_all()
    await scheduler.shutdown()
    await runtime.shutdown()
    await asyncio.gather(server.stop(grace=1.0), guarded.stop(grace=1.0), owner_streams.stop(), container_streams.stop(),
                         tls_streams.stop())
    store.close()
    paths.pid_path().unlink(missing_ok=True)
    socket_path.unlink(missing_ok=True)
    containers_socket.unlink(missing_ok=True)


async def _tls_streams(streams: FramedStreamServer, listen: str, files: tuple[Path, Path]) -> int:
    """Serve the framed streams over TLS beside the gRPC TLS listener `listen`, with its
    certificate and key `files`, where NODAL_STREAMS_LISTEN says; the port, 0 when off (or, for
    the default port, when it is taken: remote streams then stay on gRPC)."""
    from nodal.server.framed_streams import tls_streams_address
    from nodal.server.tls import TlsConfigError, server_ssl_context

    try:
        address = tls_streams_address(listen, os.environ.get("NODAL_STREAMS_LISTEN", ""))
        context = server_ssl_context(*files)
    except (ValueError, TlsConfigError) as exc:
        raise SystemExit(str(exc)) from None
    if address is None:
        return 0
    host, port, explicit = address
    try:
        port = await streams.start_tls(host, port, context)
    except OSError as exc:
        if explicit:
            raise SystemExit(f"could not listen on {host}:{port} for the framed streams (NODAL_STREAMS_LISTEN): "
                             f"{exc.strerror or exc}") from None
        log.warning("no framed streams over TLS on %s:%d (%s): remote streams stay on gRPC; set "
                    "NODAL_STREAMS_LISTEN to a free port", host, port, exc.strerror or exc)
        return 0
    log.info("framed streams over TLS on %s:%d", host, port)
    return port


def _tls_listener(server: grpc.aio.Server) -> tuple[str, tuple[Path, Path]]:
    """Add the TCP+TLS port NODAL_LISTEN names (host:port) to `server`; ("", ...) when none is
    asked for. Also the certificate chain and key files it uses (for the framed streams' port)."""
    listen = os.environ.get("NODAL_LISTEN", "").strip()
    if not listen:
        return "", (Path(), Path())
    from nodal.server.tls import TlsConfigError, server_certificate_files

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"NODAL_LISTEN must be HOST:PORT (e.g. 0.0.0.0:8443), not {listen!r}")
    cert, key = os.environ.get("NODAL_TLS_CERT") or None, os.environ.get("NODAL_TLS_KEY") or None
    if bool(cert) != bool(key):
        raise SystemExit("set both NODAL_TLS_CERT and NODAL_TLS_KEY (or neither, for a generated certificate)")
    sans = [n.strip() for n in os.environ.get("NODAL_TLS_SAN", "").split(",") if n.strip()]
    if host not in ("0.0.0.0", "::", "[::]"):
        sans.append(host.strip("[]"))
    try:
        chain, key_file, trust = server_certificate_files(
            paths.nodal_home(), sans, Path(cert) if cert else None, Path(key) if key else None)
    except TlsConfigError as exc:
        raise SystemExit(str(exc)) from None
    credentials = grpc.ssl_server_credentials([(key_file.read_bytes(), chain.read_bytes())])
    if server.add_secure_port(listen, credentials) == 0:
        raise SystemExit(f"could not listen on {listen} (address in use, or not an address of this machine?)")
    log.info("clients of %s must trust the certificate in %s", listen, trust)
    return listen, (chain, key_file)


def _chain_apps_changed(apps: AppService, sandboxes: SandboxService) -> None:
    """When apps change, sandboxes of apps that stopped are terminated too."""
    previous = apps.on_apps_changed

    def changed() -> None:
        previous()
        asyncio.get_running_loop().create_task(sandboxes.apps_changed())

    apps.on_apps_changed = changed


async def _stop_when_gone(pid: int, stop: asyncio.Event) -> None:
    """Stop when process `pid` ends (NODAL_EXIT_WITH_PID): a test run that dies leaves no server."""
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            log.info("process %d is gone: stopping", pid)
            stop.set()
            return
        await asyncio.sleep(1.0)


def main() -> None:
    paths.ensure_dirs()
    logging.basicConfig(
        level=os.environ.get("NODAL_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve())
    except (AlreadyRunning, SecretKeyError) as exc:
        log.error("%s", exc)
        raise SystemExit(3) from None
