"""Sandboxes: containers a client starts directly, with its own command, stdio and lifetime.

A sandbox runs through the same runtime backend and launcher as function
containers, but unlike them it gets no Nodal server socket and no SDK: the code
inside may be untrusted (an AI agent's code interpreter), so it sees only its
image, its volumes and its secrets. Its container id is its sandbox id.

Cloud bucket mounts (`volumes={"/b": modal.CloudBucketMount(...)}`) go through the same
`BucketMountService` as function containers; since a sandbox has no worker to ask for uploads,
the server uploads the changes to writable mounts itself every `BUCKET_SYNC_SECONDS` while the
sandbox runs and once more when it ends (before `wait` returns).

State lives in the metadata store (one serialized `SandboxInfo` per sandbox), so
`Sandbox.from_id`, `list` and `wait` work from any client, and a finished
sandbox's exit code and reason survive the server. Running sandboxes do not
survive a server restart: they are marked terminated when the server starts.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from nodal.proto import api_pb2
from nodal.runtime.backend import Bind, ContainerSpec
from nodal.server.errors import ApiError, invalid, not_found
from nodal.server.sandbox_output import OutputBuffer

log = logging.getLogger("nodal.sandboxes")

DEFAULT_TIMEOUT = 300.0  # seconds, as documented for Sandbox.create
MAX_TIMEOUT = 24 * 3600.0
PIDS_LIMIT = 1024  # processes per sandbox: a fork bomb exhausts its own sandbox, not the host
IDLE_COMMAND = ["sleep", "infinity"]  # a sandbox without an entrypoint waits to be used
_SANDBOX_ID = re.compile(r"^sb-[0-9a-f]{24}$")
_TAG_LIMIT = 64
_RECENT_OUTPUTS = 256  # finished sandboxes whose stdout/stderr stay readable
_RECENT_BYTES = 128 * 1024 * 1024  # ... and at most this much of their output in all
BUCKET_SYNC_SECONDS = 2.0  # how often a running sandbox's writes to bucket mounts are uploaded ...
BUCKET_SYNC_MAX_SECONDS = 30.0  # ... or less often, down to this, when scanning its mounts takes long


def new_sandbox_id() -> str:
    return f"sb-{secrets.token_hex(12)}"


def check_sandbox_id(sandbox_id: str) -> str:
    if not _SANDBOX_ID.match(sandbox_id):
        raise invalid(f"malformed sandbox id {sandbox_id!r} (expected sb-<24 hex digits>)")
    return sandbox_id


@dataclass
class LiveSandbox:
    """A sandbox this server runs now."""

    info: api_pb2.SandboxInfo
    output: OutputBuffer = field(default_factory=OutputBuffer)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    timeout_task: asyncio.Task | None = None
    terminating: str = ""  # the reason, once terminate or the timeout began
    error: str = ""  # what to tell the user about why it ended, if not its own doing
    started: asyncio.Event = field(default_factory=asyncio.Event)
    exited: asyncio.Event = field(default_factory=asyncio.Event)  # its container has ended
    bucket_task: asyncio.Task | None = None  # uploads its bucket mounts' changes while it runs


class SandboxService:
    """Creates, tracks and ends sandboxes; the gRPC servicer delegates here."""

    def __init__(self, store, runtime, images, apps, logs, secrets=None, volumes=None) -> None:
        self.store = store
        self.runtime = runtime  # nodal.runtime.local.LocalRuntime
        self.images = images  # nodal.server.images.ImageService
        self.apps = apps  # nodal.server.apps.AppService
        self.logs = logs  # nodal.server.logs.LogHub
        self.secrets = secrets  # nodal.server.secrets.SecretService
        self.volumes = volumes  # nodal.server.volumes.VolumeService
        self.live: dict[str, LiveSandbox] = {}
        self._recent_outputs: OrderedDict[str, OutputBuffer] = OrderedDict()  # of finished sandboxes
        self.tunnels = None  # nodal.server.sandbox_tunnels.TunnelService, set by main when available
        from nodal.server.sandbox_fs import SandboxFs

        self.fs = SandboxFs(self)  # Sandbox.open/ls/mkdir/rm/watch

    # ---- start-up ----
    def restore(self) -> int:
        """Sandboxes left running by an earlier server are gone: record them as terminated."""
        count = 0
        for raw in self.store.list_sandboxes(None, include_finished=False):
            info = api_pb2.SandboxInfo.FromString(raw)
            info.finished, info.reason, info.finished_at = True, "terminated", time.time()
            info.exit_code = 137
            info.error = "the Nodal server restarted while the sandbox ran"
            self._save(info)
            count += 1
        return count

    def _save(self, info: api_pb2.SandboxInfo) -> None:
        self.store.put_sandbox(info.sandbox_id, info.app_id, info.finished, info.created_at, info.SerializeToString())

    # ---- create ----
    def _validate(self, req: api_pb2.SandboxCreateRequest) -> float:
        if not req.app_id and req.container_id:  # created from inside a function: that function's app
            scheduler = getattr(self, "scheduler", None)
            found = scheduler.worker_attached(req.container_id, req.container_token) if scheduler else None
            if found is None:
                raise ApiError("AuthError", "unknown container or token; pass app= to Sandbox.create")
            req.app_id = found[0].app_id
        self.apps.require_app(req.app_id)
        app = self.apps.store.get_app(req.app_id)
        from nodal.server.apps import LIVE_STATES

        if app.state not in LIVE_STATES:
            raise ApiError("InvalidError", f"app {req.app_id} is stopped; sandboxes need a running or deployed app")
        if not req.image_id:
            raise invalid("SandboxCreate needs an image_id")
        timeout = req.timeout_secs or DEFAULT_TIMEOUT
        if not 1 <= timeout <= MAX_TIMEOUT:
            raise invalid(f"sandbox timeout must be between 1 and {int(MAX_TIMEOUT)} seconds, not {timeout:g}")
        if req.workdir and not req.workdir.startswith("/"):
            raise invalid(f"sandbox workdir must be an absolute path, not {req.workdir!r}")
        if req.cpu < 0 or req.cpu_limit < 0 or req.memory_mb < 0 or req.memory_limit_mb < 0:
            raise invalid("sandbox cpu and memory must not be negative")
        if req.cpu_limit and req.cpu_limit < req.cpu:
            raise invalid(f"sandbox cpu limit {req.cpu_limit:g} is below its request {req.cpu:g}")
        if req.memory_limit_mb and req.memory_limit_mb < req.memory_mb:
            raise invalid(f"sandbox memory limit {req.memory_limit_mb} MiB is below its request {req.memory_mb} MiB")
        for arg in req.entrypoint_args:
            if "\0" in arg:
                raise invalid("sandbox entrypoint arguments may not contain NUL bytes")
        for port in [*req.encrypted_ports, *req.unencrypted_ports]:
            if not 1 <= port <= 65535:
                raise invalid(f"port {port} is not a TCP port (1-65535)")
        if req.block_network and (req.encrypted_ports or req.unencrypted_ports):
            raise invalid("a sandbox with block_network=True cannot expose ports")
        if req.block_network and req.has_cidr_allowlist:
            raise invalid("block_network=True and cidr_allowlist cannot be combined")
        if req.has_cidr_allowlist:
            from nodal.server.sandbox_firewall import parse_cidrs

            parse_cidrs(list(req.cidr_allowlist))
        for vm in req.volume_mounts:
            path = vm.mount_path.rstrip("/")
            if not vm.mount_path.startswith("/") or path in ("", "/proc", "/dev", "/sys", "/tmp"):
                raise invalid(f"volume mount path {vm.mount_path!r} must be an absolute path other than / and /tmp")
        if req.bucket_mounts:
            from nodal.server.bucket_mounts import validate_specs

            validate_specs(req.bucket_mounts)
            taken = {vm.mount_path.rstrip("/") for vm in req.volume_mounts}
            for bm in req.bucket_mounts:
                if bm.mount_path.rstrip("/") in taken:
                    raise invalid(f"{bm.mount_path!r} has both a volume and a bucket mount: give each its own path")
        return timeout

    def _buckets(self):
        """The server's BucketMountService (main sets `buckets`, or it is the function launcher's)."""
        buckets = getattr(self, "buckets", None)
        if buckets is None:
            launcher = getattr(getattr(self, "scheduler", None), "launcher", None)
            buckets = getattr(launcher, "buckets", None)
        return buckets

    def _release_mounts(self, sandbox_id: str) -> None:
        """Drop a sandbox's volume views and bucket directories."""
        if self.volumes is not None:
            self.volumes.release(sandbox_id)
        buckets = self._buckets()
        if buckets is not None:
            buckets.release(sandbox_id)

    async def create(self, req: api_pb2.SandboxCreateRequest) -> api_pb2.SandboxCreateResponse:
        timeout = self._validate(req)
        image = await self.images.get(req.image_id)
        if req.gpu:
            from nodal.runtime.gpus import GpuFit

            fit = self.runtime.gpu_fit(req.gpu)
            if fit is not GpuFit.NOW:
                why = "are all in use" if fit is GpuFit.BUSY else "are not on this machine"
                raise ApiError("InvalidError", f"the GPUs this sandbox asks for ({req.gpu}) {why}")
        sandbox_id = new_sandbox_id()
        env = dict(image.env)
        if req.secret_ids:
            if self.secrets is None:
                raise ApiError("InvalidError", "this server has no secret service")
            env.update(self.secrets.env_for(list(req.secret_ids)))
        env.update({"MODAL_SANDBOX_ID": sandbox_id, "MODAL_TASK_ID": sandbox_id, "MODAL_IS_REMOTE": "1"})
        binds: list[Bind] = []
        for path, sha, _mode in image.mounts:
            binds.append(Bind(self.images_blob_path(sha), path, read_only=True))
        if req.nfs_mounts:
            nfs = getattr(self, "nfs", None)  # nodal.server.nfs.NfsService, set by main
            if nfs is None:
                raise ApiError("InvalidError", "this server has no network file system service")
            for nm in req.nfs_mounts:
                if not nm.mount_path.startswith("/") or nm.mount_path.rstrip("/") in ("", "/tmp", "/proc", "/dev"):
                    raise invalid(f"network file system mount path {nm.mount_path!r} must be absolute, not / or /tmp")
                binds.append(Bind(nfs.host_dir(nm.nfs_id), nm.mount_path, read_only=False))
        for vm in req.volume_mounts:
            if self.volumes is None:
                raise ApiError("InvalidError", "this server has no volume service")
            view = await self.volumes.mount(sandbox_id, vm.volume_id)
            binds.append(Bind(view, vm.mount_path, read_only=False))
        buckets = self._buckets() if req.bucket_mounts else None
        if req.bucket_mounts:
            from nodal.server.bucket_mounts import BucketMountError

            try:
                if buckets is None:
                    raise BucketMountError("this server has no cloud bucket mount service")
                # The token guards the worker's sync call; a sandbox has no worker, so nobody gets it.
                for host_dir, mount_path, read_only in await buckets.mount(
                        sandbox_id, secrets.token_hex(16), req.bucket_mounts):
                    binds.append(Bind(host_dir, mount_path, read_only=read_only))
            except BucketMountError as exc:
                self._release_mounts(sandbox_id)
                raise ApiError("InvalidError", f"the sandbox could not start: {exc}") from None
            except BaseException:
                self._release_mounts(sandbox_id)
                raise
        command = list(req.entrypoint_args) or list(IDLE_COMMAND)
        spec = ContainerSpec(
            container_id=sandbox_id,
            layers=list(image.layers),
            command=command,
            env=env,
            binds=binds,
            workdir=req.workdir or image.workdir or "/root",
            block_network=req.block_network,
            cpu=req.cpu,
            cpu_limit=req.cpu_limit,
            memory_mb=req.memory_mb,
            memory_limit_mb=req.memory_limit_mb,
        )
        spec.gpu = req.gpu  # the runtime allocates and binds the devices
        info = api_pb2.SandboxInfo(
            sandbox_id=sandbox_id, app_id=req.app_id, created_at=time.time(), image_id=req.image_id, command=command
        )
        live = LiveSandbox(info=info)
        self.live[sandbox_id] = live
        self._save(info)

        def on_output(cid: str, stream: str, data: bytes) -> None:
            fd = 1 if stream == "stdout" else 2
            if data:
                live.output.append(fd, data)
                self._log(live, stream, data)

        async def on_exit(cid: str, code: int) -> None:
            await self._finished(live, code)

        on_network = None
        if req.has_cidr_allowlist:
            from nodal.server.sandbox_firewall import apply_allowlist

            allow = list(req.cidr_allowlist)

            async def on_network(pid: int) -> None:
                await apply_allowlist(pid, allow)

        try:
            await self.runtime.start(
                spec, lambda *_: None, on_exit, stdin=True, on_output=on_output, on_network=on_network,
                pids_limit=PIDS_LIMIT,
            )
        except Exception as exc:
            self._release_mounts(sandbox_id)
            self.live.pop(sandbox_id, None)
            info.finished, info.reason, info.exit_code, info.finished_at = True, "failed", 125, time.time()
            info.error = f"the sandbox could not start: {exc}"
            self._save(info)
            raise ApiError("InvalidError", info.error) from None
        live.started.set()
        live.timeout_task = asyncio.get_running_loop().create_task(self._expire(live, timeout))
        if buckets is not None and buckets.has_writable(sandbox_id) and not live.exited.is_set():
            live.bucket_task = asyncio.get_running_loop().create_task(self._sync_buckets(live, buckets))
        if req.encrypted_ports or req.unencrypted_ports:
            try:
                if self.tunnels is None:
                    raise RuntimeError("this server has no tunnel service")
                await self.open_sandbox_ports(sandbox_id, list(req.encrypted_ports), list(req.unencrypted_ports))
            except Exception as exc:
                await self._terminate(live, "failed", f"its ports could not be opened: {exc}")
                raise ApiError("InvalidError", f"the sandbox's ports could not be opened: {exc}") from None
        return api_pb2.SandboxCreateResponse(sandbox_id=sandbox_id)

    def images_blob_path(self, sha: str):
        return self.apps.blobs.path(sha)

    async def _init_pid(self, sandbox_id: str) -> int:
        running = self.runtime._running.get(sandbox_id)
        if running is None:
            raise ApiError("InvalidError", f"sandbox {sandbox_id} is not running")
        pid = await running.container.ready()
        if pid is None:
            raise ApiError("InvalidError", f"sandbox {sandbox_id} failed to start")
        return pid

    def _log(self, live: LiveSandbox, stream: str, data: bytes) -> None:
        text = data.decode(errors="replace")
        for line in text.splitlines():
            try:
                self.logs.append(live.info.app_id, line, stream=stream, container_id=live.info.sandbox_id)
            except Exception:  # noqa: BLE001 - logs must never break a sandbox
                log.exception("could not log sandbox output")
                return

    async def _expire(self, live: LiveSandbox, timeout: float) -> None:
        try:
            await asyncio.wait_for(live.done.wait(), timeout)
        except TimeoutError:
            log.info("sandbox %s timed out after %gs", live.info.sandbox_id, timeout)
            await self._terminate(live, "timeout")

    async def _sync_buckets(self, live: LiveSandbox, buckets) -> None:
        """Upload a running sandbox's writes to its bucket mounts now and then, until it ends."""
        from nodal.server.bucket_mounts import BucketMountError

        sandbox_id, last_error, pause = live.info.sandbox_id, "", BUCKET_SYNC_SECONDS
        while True:
            try:
                await asyncio.wait_for(live.exited.wait(), pause)
                return  # _finished makes the last upload
            except TimeoutError:
                pass
            began = time.monotonic()
            try:
                await buckets.upload_changes(sandbox_id)
                last_error = ""
                # A mount of many files takes a while to scan: rest ten times as long, within limits.
                pause = min(BUCKET_SYNC_MAX_SECONDS, max(BUCKET_SYNC_SECONDS, 10 * (time.monotonic() - began)))
            except (BucketMountError, OSError) as exc:
                if str(exc) != last_error:  # once per distinct failure, not every round
                    last_error = str(exc)
                    log.warning("sandbox %s: %s", sandbox_id, exc)
                    self._log(live, "stderr", f"nodal: {exc}\n".encode())

    async def _final_bucket_sync(self, live: LiveSandbox) -> None:
        """The sandbox ended: upload what it last wrote to its bucket mounts (before `wait` returns)."""
        from nodal.server.bucket_mounts import BucketMountError

        buckets = self._buckets()
        if live.bucket_task is not None:
            await asyncio.gather(live.bucket_task, return_exceptions=True)  # let a running upload finish
        if buckets is None or not buckets.has_writable(live.info.sandbox_id):
            return
        try:
            await buckets.upload_changes(live.info.sandbox_id)
        except (BucketMountError, OSError) as exc:
            message = f"nodal: the sandbox's changes to a bucket mount were not all uploaded: {exc}\n"
            live.output.append(2, message.encode())
            self._log(live, "stderr", message.encode())
            if not live.error:
                live.error = message.strip()

    async def _finished(self, live: LiveSandbox, code: int) -> None:
        live.exited.set()
        await self._final_bucket_sync(live)
        info = live.info
        info.finished, info.exit_code, info.finished_at = True, code, time.time()
        info.reason = live.terminating
        if live.error:
            info.error = live.error
        live.output.close()
        self._save(info)
        self.live.pop(info.sandbox_id, None)
        self.fs.forget(info.sandbox_id)
        self._recent_outputs[info.sandbox_id] = live.output
        while len(self._recent_outputs) > _RECENT_OUTPUTS or (
            len(self._recent_outputs) > 1 and sum(o.size for o in self._recent_outputs.values()) > _RECENT_BYTES
        ):
            self._recent_outputs.popitem(last=False)
        self._release_mounts(info.sandbox_id)
        if self.tunnels is not None:
            self.tunnels.close_container(info.sandbox_id)
        live.done.set()
        if live.timeout_task is not None and live.timeout_task is not asyncio.current_task():
            live.timeout_task.cancel()

    # ---- queries ----
    def finished_output(self, sandbox_id: str) -> OutputBuffer | None:
        """The output of a recently finished sandbox (None if this server no longer has it)."""
        return self._recent_outputs.get(sandbox_id)

    def get_info(self, sandbox_id: str) -> api_pb2.SandboxInfo:
        check_sandbox_id(sandbox_id)
        live = self.live.get(sandbox_id)
        if live is not None:
            return live.info
        raw = self.store.get_sandbox(sandbox_id)
        if raw is None:
            raise not_found(f"sandbox {sandbox_id} not found")
        return api_pb2.SandboxInfo.FromString(raw)

    def require_live(self, sandbox_id: str) -> LiveSandbox:
        """The running sandbox, or an error that says it has finished."""
        info = self.get_info(sandbox_id)
        live = self.live.get(sandbox_id)
        if live is None or info.finished or live.terminating:
            raise ApiError(
                "InvalidError",
                f"sandbox {sandbox_id} has already finished (exit code {info.exit_code}"
                + (f", {info.reason}" if info.reason or live and live.terminating else "")
                + "); create a new sandbox to run more commands",
            )
        return live

    async def wait(self, req: api_pb2.SandboxWaitRequest) -> api_pb2.SandboxInfo:
        info = self.get_info(req.sandbox_id)
        live = self.live.get(req.sandbox_id)
        if live is not None and not info.finished:
            timeout = min(max(req.timeout_secs, 0.0), 60.0)
            try:
                await asyncio.wait_for(live.done.wait(), timeout)
            except TimeoutError:
                pass
        return self.get_info(req.sandbox_id)

    def list(self, req: api_pb2.SandboxListRequest) -> api_pb2.SandboxListResponse:
        if req.app_id:
            self.apps.require_app(req.app_id)
        out = []
        for raw in self.store.list_sandboxes(req.app_id or None, req.include_finished):
            info = api_pb2.SandboxInfo.FromString(raw)
            live = self.live.get(info.sandbox_id)
            if live is not None:
                info = live.info
            if all(info.tags.get(k) == v for k, v in req.tags.items()):
                out.append(info)
        return api_pb2.SandboxListResponse(sandboxes=out)

    def set_tags(self, req: api_pb2.SandboxSetTagsRequest) -> None:
        info = self.get_info(req.sandbox_id)
        if len(req.tags) > _TAG_LIMIT:
            raise invalid(f"a sandbox takes at most {_TAG_LIMIT} tags")
        for k, v in req.tags.items():
            if not k or len(k) > 256 or len(v) > 1024:
                raise invalid(f"tag {k!r}: keys must be 1-256 characters, values at most 1024")
        info.tags.clear()
        info.tags.update(req.tags)
        self._save(info)

    # ---- snapshots ----
    async def snapshot(self, req: api_pb2.SandboxSnapshotFsRequest) -> api_pb2.SandboxSnapshotFsResponse:
        """An image with the sandbox's files as they are now (see nodal.images.snapshot)."""
        from nodal.images.snapshot import snapshot_spec

        live = self.require_live(req.sandbox_id)
        upper = self.runtime.upper_dir(req.sandbox_id)
        raw = self.store.get_image(live.info.image_id)
        if upper is None or raw is None:
            raise ApiError("InvalidError", f"sandbox {req.sandbox_id} has no filesystem to snapshot")
        timeout = req.timeout_secs if req.timeout_secs > 0 else 55.0
        try:
            spec = await asyncio.wait_for(
                snapshot_spec(self.images.builder.store, api_pb2.ImageSpec.FromString(raw), upper), timeout
            )
        except TimeoutError:
            raise ApiError("TimeoutError", f"the snapshot of {req.sandbox_id} took longer than {timeout:g}s") from None
        except RuntimeError as exc:
            raise ApiError("ExecutionError", f"the snapshot of {req.sandbox_id} failed: {exc}") from None
        image_id = self.images.get_or_create(spec)
        await self.images.get(image_id)
        return api_pb2.SandboxSnapshotFsResponse(image_id=image_id)

    # ---- tunnels ----
    async def open_sandbox_ports(self, sandbox_id: str, encrypted: list[int], unencrypted: list[int]) -> None:
        for port in encrypted:
            await self.tunnels.open(sandbox_id, port, tls=True, plain=False)
        for port in unencrypted:
            await self.tunnels.open(sandbox_id, port, tls=True, plain=True)

    async def get_tunnels(self, req: api_pb2.SandboxTunnelsRequest) -> api_pb2.SandboxTunnelsResponse:
        info = self.get_info(req.sandbox_id)
        if info.finished:
            raise ApiError("InvalidError", f"sandbox {req.sandbox_id} has finished: it has no tunnels")
        found = self.tunnels.tunnels_of(req.sandbox_id) if self.tunnels is not None else []
        return api_pb2.SandboxTunnelsResponse(tunnels=found)

    def _require_container(self, container_id: str, token: str) -> None:
        """A function container proves who it is with its token (modal.forward runs inside one)."""
        scheduler = getattr(self, "scheduler", None)
        if scheduler is None or scheduler.worker_attached(container_id, token) is None:
            raise ApiError("AuthError", "modal.forward must run inside a Nodal container (unknown container or token)")
        running = self.runtime._running.get(container_id)
        if running is not None and running.spec.block_network:
            raise ApiError("InvalidError", "a container with block_network=True cannot forward ports")

    async def open_forward(self, req: api_pb2.TunnelOpenRequest) -> api_pb2.TunnelInfo:
        if not 1 <= req.port <= 65535:
            raise invalid(f"port {req.port} is not a TCP port (1-65535)")
        self._require_container(req.container_id, req.token)
        if self.tunnels is None:
            raise ApiError("InvalidError", "this server has no tunnel service")
        return await self.tunnels.open(req.container_id, req.port, tls=True, plain=req.unencrypted)

    async def close_forward(self, req: api_pb2.TunnelCloseRequest) -> None:
        self._require_container(req.container_id, req.token)
        if self.tunnels is not None:
            self.tunnels.close(req.container_id, req.port)

    # ---- modal container list / stop ----
    def list_containers(self, scheduler, req: api_pb2.ContainerListRequest) -> api_pb2.ContainerListResponse:
        out = []
        for pool in list(scheduler.pools.values()):
            if req.app_id and pool.app_id != req.app_id:
                continue
            for slot in pool.containers.values():
                if slot.state == "stopped":
                    continue
                age = time.monotonic() - slot.started_at
                out.append(api_pb2.ContainerInfo(
                    container_id=slot.container_id, app_id=pool.app_id, function_name=pool.name,
                    kind="function", started_at=time.time() - age, state=slot.state,
                ))
        for live in self.live.values():
            if req.app_id and live.info.app_id != req.app_id:
                continue
            out.append(api_pb2.ContainerInfo(
                container_id=live.info.sandbox_id, app_id=live.info.app_id, kind="sandbox",
                started_at=live.info.created_at, state="terminating" if live.terminating else "running",
            ))
        out.sort(key=lambda c: c.started_at)
        return api_pb2.ContainerListResponse(containers=out)

    async def stop_container(self, scheduler, container_id: str) -> None:
        if container_id in self.live:
            await self.terminate(container_id)
            return
        if container_id not in scheduler.slots:
            raise not_found(f"container {container_id} is not running (see `modal container list`)")
        await self.runtime.stop(container_id, grace_seconds=5.0)

    # ---- ending ----
    async def terminate(self, sandbox_id: str) -> None:
        self.get_info(sandbox_id)
        live = self.live.get(sandbox_id)
        if live is not None:
            await self._terminate(live, "terminated")

    async def _terminate(self, live: LiveSandbox, reason: str, error: str = "") -> None:
        if not live.terminating:
            live.terminating = reason
            live.error = error
        await self.runtime.stop(live.info.sandbox_id, grace_seconds=0.5)
        await live.done.wait()

    async def terminate_app(self, app_id: str) -> None:
        """The app stopped: its sandboxes end with it."""
        why = f"its app {app_id} stopped"
        await asyncio.gather(
            *(self._terminate(live, "terminated", why) for live in list(self.live.values()) if live.info.app_id == app_id)
        )

    async def apps_changed(self) -> None:
        """Terminate the sandboxes of apps that are no longer live."""
        from nodal.server.apps import LIVE_STATES

        for app_id in {live.info.app_id for live in self.live.values()}:
            app = self.store.get_app(app_id)
            if app is None or app.state not in LIVE_STATES:
                await self.terminate_app(app_id)

    async def shutdown(self) -> None:
        why = "the Nodal server shut down while the sandbox ran"
        await asyncio.gather(*(self._terminate(live, "terminated", why) for live in list(self.live.values())))
        if self.tunnels is not None:
            await self.tunnels.shutdown()
