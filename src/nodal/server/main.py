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
from nodal.runtime.local import LocalRuntime
from nodal.server.apps import AppService
from nodal.server.bucket_mounts import BucketMountService
from nodal.server.build_mounts import build_mounter
from nodal.server.call_router import CallService
from nodal.server.container_specs import ContainerLauncher
from nodal.server.dict_queue import DataService
from nodal.server.gateway import Gateway
from nodal.server.images import ImageService
from nodal.server.logs import LogHub
from nodal.server.nfs import NfsService
from nodal.server.sandbox_tunnels import TunnelService
from nodal.server.sandboxes import SandboxService
from nodal.server.scheduler import GPU_FALLBACK_MODES, Scheduler
from nodal.server.schedules import ScheduleRunner
from nodal.server.secrets import SecretService, load_key
from nodal.server.servicer import NodalServicer
from nodal.server.volumes import VolumeService
from nodal.store.backends.sqlite import SqliteMetadataStore
from nodal.store.blobs.local_dir import LocalDirBlobStore

log = logging.getLogger("nodal.server")

GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 80 * 1024 * 1024),
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
    paths.ensure_dirs()
    _take_lock()
    socket_path = socket_path or paths.socket_path()
    socket_path.unlink(missing_ok=True)

    store = SqliteMetadataStore(paths.database_path())
    secrets = SecretService(store, load_key())  # creates $NODAL_HOME/secret.key on first start
    blobs = LocalDirBlobStore(paths.blobs_dir())
    logs = LogHub(paths.logs_dir() / "apps")
    runtime = LocalRuntime(paths.containers_dir())
    images = ImageService(ImageBuilder(paths.images_dir()), store)
    scheduler = Scheduler(runtime, launcher=None, gpu_fallback=gpu_fallback_mode())  # type: ignore[arg-type]
    apps = AppService(store, blobs, scheduler, logs)
    scheduler.launcher = ContainerLauncher(
        runtime, apps, images, blobs, logs, socket_path, on_exit=scheduler.container_exited
    )
    scheduler.launcher.secrets = secrets

    def warn(pool, message: str) -> None:  # reaches `modal run` through the app's logs
        log.warning("%s", message)
        logs.append(pool.app_id, f"[nodal] warning: {message}", stream="stderr", function_name=pool.name)

    scheduler.on_warning = warn
    images.builder.gpus, images.builder.gpu_fallback = runtime.gpus, scheduler.gpu_fallback  # Image steps' gpu=
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

    server = grpc.aio.server(options=GRPC_OPTIONS)
    data = DataService(store)  # modal.Dict and modal.Queue
    servicer = NodalServicer(apps, calls, scheduler, images, blobs, logs, data=data, secrets=secrets)
    servicer.volumes = volumes
    servicer.nfs = nfs
    servicer.buckets = buckets
    data.on_delete.append(nfs.object_deleted)
    sandboxes = SandboxService(store, runtime, images, apps, logs, secrets=secrets, volumes=volumes)
    servicer.sandboxes = sandboxes  # modal.Sandbox, modal container, modal shell
    sandboxes.scheduler = scheduler  # function containers: modal container list/stop, modal.forward
    sandboxes.nfs = nfs  # network_file_systems= on sandboxes
    sandboxes.tunnels = TunnelService(runtime, paths.nodal_home() / "tunnels")  # ports relayed into containers
    _chain_apps_changed(apps, sandboxes)
    servicer.gateway = gateway
    api_pb2_grpc.add_NodalServicer_to_server(servicer, server)
    await gateway.start()  # before the API answers: its URLs are known from the first request
    server.add_insecure_port(f"unix://{socket_path}")
    await server.start()
    os.chmod(socket_path, 0o600)
    scheduler.start()
    data.start()
    apps.start()
    resumed = calls.restore()
    sandboxes.restore()
    schedules.start()
    paths.pid_path().write_text(str(os.getpid()))
    log.info("nodal server %d listening on %s (resumed %d spawned calls)", os.getpid(), socket_path, resumed)

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
    await scheduler.shutdown()
    await runtime.shutdown()
    await server.stop(grace=1.0)
    store.close()
    paths.pid_path().unlink(missing_ok=True)
    socket_path.unlink(missing_ok=True)


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
    except AlreadyRunning as exc:
        log.error("%s", exc)
        raise SystemExit(3) from None
