"""`modal.Sandbox`: a container you start directly, run commands in, and read files from.

The work happens in the Nodal server (`nodal.server.sandboxes`); this class holds
a sandbox id and speaks the API. Process output and stdin ride one gRPC stream
per process (`modal.io_streams`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

from modal._utils.async_utils import _BoundGen, live_classmethod, live_method, live_method_gen
from modal._validation import parse_cpu, parse_gpu, parse_memory
from modal.client import Client, _default_client
from modal.container_process import ContainerProcess
from modal.exception import InvalidError, SandboxTerminatedError, SandboxTimeoutError
from modal.file_io import FileIO, FileWatchEvent, FileWatchEventType
from modal.io_streams import StreamReader, StreamType, StreamWriter, _ProcessChannel, stream_type_proto
from nodal.proto import api_pb2

DEFAULT_TIMEOUT = 300  # seconds, as documented
_WAIT_POLL = 50.0  # seconds per SandboxWait long poll


class _live_classmethod_gen(live_classmethod):
    bound_type = _BoundGen


def _check_str_args(what: str, args: Sequence[Any]) -> list[str]:
    for a in args:
        if not isinstance(a, str):
            raise InvalidError(f"{what} arguments must be strings, got {type(a).__name__}: {a!r}")
    return list(args)


def _check_ports(name: str, ports: Sequence[int]) -> list[int]:
    out = []
    for p in ports:
        if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 65535:
            raise InvalidError(f"{name} must list TCP port numbers (1-65535), got {p!r}")
        out.append(p)
    return out


async def _app_id_for(app: Any, client: Client) -> str:
    """The id of the app a sandbox belongs to: a running or looked-up App ("" inside a function
    container: the server uses that container's app)."""
    if app is None:
        if os.environ.get("NODAL_CONTAINER_ID") and os.environ.get("NODAL_CONTAINER_TOKEN"):
            return ""
        raise InvalidError(
            "Sandbox.create needs an app outside a Modal container: pass "
            "app=modal.App.lookup('my-app', create_if_missing=True), or an app inside `with app.run():`"
        )
    from modal.app import App

    if not isinstance(app, App):
        raise InvalidError(f"Sandbox.create app= must be a modal.App, not {type(app).__name__}")
    if app.app_id is None:
        raise InvalidError(
            f"the app {app.name or ''!r} is not running: create the sandbox inside `with app.run():`, or use "
            "modal.App.lookup(name, create_if_missing=True)"
        )
    return app.app_id


class Sandbox:
    """A running (or finished) sandbox: like `asyncio.subprocess.Process`, in its own container."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise InvalidError("create sandboxes with modal.Sandbox.create(...) or modal.Sandbox.from_id(...)")

    @classmethod
    def _new(cls, sandbox_id: str, client: Client, info: api_pb2.SandboxInfo | None = None) -> Sandbox:
        self = object.__new__(cls)
        self._object_id = sandbox_id
        self._client = client
        self._info = info
        self._stdio: _ProcessChannel | None = None
        self._stdout = StreamReader(1, self._stdio_channel, text=True)
        self._stderr = StreamReader(2, self._stdio_channel, text=True)
        self._stdin = StreamWriter(self._stdio_channel)
        return self

    def __repr__(self) -> str:
        return f"Sandbox({self._object_id!r})"

    @property
    def object_id(self) -> str:
        return self._object_id

    @live_method
    async def hydrate(self, client: Client | None = None) -> Sandbox:
        """Sandboxes are hydrated when made; this refreshes their state."""
        self._info = await self._client.stub.SandboxGet(api_pb2.SandboxGetRequest(sandbox_id=self._object_id))
        return self

    # ---------- create / look up ----------
    @live_classmethod
    async def create(
        cls,
        *entrypoint_args: str,
        app: Any = None,
        environment_name: str | None = None,
        image: Any = None,
        mounts: Sequence[Any] = (),
        secrets: Sequence[Any] = (),
        network_file_systems: dict | None = None,
        timeout: int | None = None,
        workdir: str | None = None,
        gpu: Any = None,
        cloud: str | None = None,
        region: str | Sequence[str] | None = None,
        cpu: float | tuple[float, float] | None = None,
        memory: int | tuple[int, int] | None = None,
        block_network: bool = False,
        cidr_allowlist: Sequence[str] | None = None,
        volumes: dict | None = None,
        pty_info: Any = None,
        encrypted_ports: Sequence[int] = (),
        unencrypted_ports: Sequence[int] = (),
        proxy: Any = None,
        _experimental_scheduler_placement: Any = None,
        client: Client | None = None,
    ) -> Sandbox:
        """Start a sandbox running `entrypoint_args` (or idling, without them) and return it.

        `volumes=` maps absolute paths to modal.Volume or modal.CloudBucketMount values; a writable
        bucket mount's changes are uploaded while the sandbox runs and when it ends."""
        from modal.image import Image
        from modal.runner import _build_image
        from modal.secret import Secret
        from modal.volume import Volume

        args = _check_str_args("Sandbox.create entrypoint", entrypoint_args)
        if image is not None and not isinstance(image, Image):
            raise InvalidError(f"Sandbox.create image= must be a modal.Image, not {type(image).__name__}")
        if mounts:
            from modal.mount import Mount

            image = image or Image.debian_slim()
            for mount in mounts:
                if not isinstance(mount, Mount):
                    raise InvalidError(f"Sandbox.create mounts= takes modal.Mount objects, not {type(mount).__name__}")
                for remote, local in sorted(mount.files().items()):
                    image = image.add_local_file(local, remote)  # bound into the sandbox at start
        if proxy is not None:
            raise InvalidError("modal.Proxy is not supported by this Nodal server")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or not 1 <= timeout <= 86400):
            raise InvalidError(f"Sandbox timeout must be a number of seconds between 1 and 86400, not {timeout!r}")
        if workdir is not None and (not isinstance(workdir, str) or not workdir.startswith("/")):
            raise InvalidError(f"Sandbox workdir must be an absolute path, not {workdir!r}")
        if cidr_allowlist is not None and isinstance(cidr_allowlist, str):
            raise InvalidError("cidr_allowlist must be a list of CIDR strings, e.g. ['10.0.0.0/8']")
        for s in secrets:
            if not isinstance(s, Secret):
                raise InvalidError(f"Sandbox secrets= must be modal.Secret objects, not {type(s).__name__}")
        cpu_req, cpu_limit = parse_cpu(cpu)
        mem_req, mem_limit = parse_memory(memory)
        gpu_str = parse_gpu(gpu)
        enc = _check_ports("encrypted_ports", encrypted_ports)
        unenc = _check_ports("unencrypted_ports", unencrypted_ports)
        from modal.runner import _split_bucket_mounts

        plain_volumes, bucket_pairs = _split_bucket_mounts(dict(volumes or {}))  # CloudBucketMounts go apart
        c = client or await _default_client()
        app_id = await _app_id_for(app, c)
        cache = c.__dict__.setdefault("_sandbox_image_cache", {})
        image_id = await _build_image(c, image or Image.debian_slim(), app_id, cache)
        secret_ids = [await s._resolve(c, app_id) for s in secrets]
        from modal.runner import _nfs_mounts

        nfs_mounts = await _nfs_mounts(dict(network_file_systems or {}))
        bucket_mounts = [await bm._to_proto(path, c, app_id) for path, bm in bucket_pairs]
        volume_mounts = []
        for path, vol in sorted(plain_volumes.items(), key=lambda kv: str(kv[0])):
            if not isinstance(vol, Volume):
                raise InvalidError(f"volumes={{{str(path)!r}: ...}} needs a modal.Volume or modal.CloudBucketMount, "
                                   f"not {type(vol).__name__}")
            _c, volume_id = await vol._ids()
            volume_mounts.append(api_pb2.VolumeMount(mount_path=str(path), volume_id=volume_id))
        req = api_pb2.SandboxCreateRequest(
            app_id=app_id,
            container_id="" if app_id else os.environ.get("NODAL_CONTAINER_ID", ""),
            container_token="" if app_id else os.environ.get("NODAL_CONTAINER_TOKEN", ""),
            image_id=image_id,
            entrypoint_args=args,
            secret_ids=secret_ids,
            volume_mounts=volume_mounts,
            nfs_mounts=nfs_mounts,
            bucket_mounts=bucket_mounts,
            timeout_secs=float(timeout or DEFAULT_TIMEOUT),
            workdir=workdir or "",
            cpu=cpu_req,
            cpu_limit=cpu_limit,
            memory_mb=mem_req,
            memory_limit_mb=mem_limit,
            gpu=gpu_str,
            block_network=bool(block_network),
            cidr_allowlist=list(cidr_allowlist or []),
            has_cidr_allowlist=cidr_allowlist is not None,
            encrypted_ports=enc,
            unencrypted_ports=unenc,
        )
        resp = await c.stub.SandboxCreate(req)
        return cls._new(resp.sandbox_id, c)

    @live_classmethod
    async def from_id(cls, sandbox_id: str, client: Client | None = None) -> Sandbox:
        """The sandbox with this id (from `.object_id`), running or finished."""
        if not isinstance(sandbox_id, str):
            raise InvalidError(f"sandbox_id must be a string, not {type(sandbox_id).__name__}")
        c = client or await _default_client()
        info = await c.stub.SandboxGet(api_pb2.SandboxGetRequest(sandbox_id=sandbox_id))
        return cls._new(sandbox_id, c, info)

    @_live_classmethod_gen
    async def list(
        cls, *, app_id: str | None = None, tags: dict[str, str] | None = None, client: Client | None = None
    ) -> AsyncIterator[Sandbox]:
        """The running sandboxes (of one app, if given) that carry at least `tags`."""
        c = client or await _default_client()
        resp = await c.stub.SandboxList(api_pb2.SandboxListRequest(app_id=app_id or "", tags=dict(tags or {})))
        for info in resp.sandboxes:
            yield cls._new(info.sandbox_id, c, info)

    @live_method
    async def set_tags(self, tags: dict[str, str], *, client: Client | None = None) -> None:
        """Replace the sandbox's tags (key-value strings, used to filter `Sandbox.list`)."""
        if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise InvalidError("set_tags takes a dict of str to str")
        await self._client.stub.SandboxSetTags(api_pb2.SandboxSetTagsRequest(sandbox_id=self._object_id, tags=tags))

    # ---------- lifecycle ----------
    def _raise_for(self, info: api_pb2.SandboxInfo, raise_on_termination: bool) -> None:
        if info.reason == "timeout":
            raise SandboxTimeoutError(f"sandbox {self._object_id} timed out and was stopped")
        if info.reason in ("terminated", "failed") and raise_on_termination:
            detail = f": {info.error}" if info.error else ""
            raise SandboxTerminatedError(f"sandbox {self._object_id} was terminated{detail}")

    @live_method
    async def wait(self, raise_on_termination: bool = True) -> None:
        """Wait for the sandbox to finish. A sandbox that timed out raises SandboxTimeoutError; one that
        was terminated raises SandboxTerminatedError unless `raise_on_termination=False`."""
        while True:
            info = await self._client.stub.SandboxWait(
                api_pb2.SandboxWaitRequest(sandbox_id=self._object_id, timeout_secs=_WAIT_POLL)
            )
            self._info = info
            if info.finished:
                self._raise_for(info, raise_on_termination)
                return

    @live_method
    async def poll(self) -> int | None:
        """The exit code if the sandbox has finished, else None."""
        self._info = await self._client.stub.SandboxGet(api_pb2.SandboxGetRequest(sandbox_id=self._object_id))
        return self._info.exit_code if self._info.finished else None

    @property
    def returncode(self) -> int | None:
        """The exit code once the sandbox has finished (as last seen by `wait`/`poll`), else None."""
        if self._info is None or not self._info.finished:
            return None
        return self._info.exit_code

    @live_method
    async def terminate(self) -> None:
        """Stop the sandbox (a no-op if it has already finished)."""
        await self._client.stub.SandboxTerminate(api_pb2.SandboxTerminateRequest(sandbox_id=self._object_id))

    # ---------- stdio ----------
    async def _stdio_channel(self) -> _ProcessChannel:
        if self._stdio is None:
            channel = _ProcessChannel(
                self._client,
                api_pb2.ProcessStreamRequest(attach=api_pb2.ProcessAttach(sandbox_id=self._object_id)),
            )
            await channel.start()
            self._stdio = channel
        return self._stdio

    @property
    def stdout(self) -> StreamReader[str]:
        """StreamReader for the sandbox's stdout (from its start)."""
        return self._stdout

    @property
    def stderr(self) -> StreamReader[str]:
        """StreamReader for the sandbox's stderr (from its start)."""
        return self._stderr

    @property
    def stdin(self) -> StreamWriter:
        """StreamWriter for the sandbox's stdin."""
        return self._stdin

    # ---------- exec ----------
    @live_method
    async def exec(
        self,
        *cmds: str,
        pty_info: Any = None,
        stdout: StreamType = StreamType.PIPE,
        stderr: StreamType = StreamType.PIPE,
        timeout: int | None = None,
        workdir: str | None = None,
        secrets: Sequence[Any] = (),
        text: bool = True,
        bufsize: int = -1,
        _pty_info: Any = None,
    ) -> ContainerProcess:
        """Run a command in the sandbox; returns its ContainerProcess once it has started."""
        from modal.secret import Secret

        args = _check_str_args("exec", cmds)
        if not args:
            raise InvalidError("exec needs a command, e.g. sb.exec('echo', 'hi')")
        if bufsize not in (-1, 1):
            raise InvalidError("bufsize must be -1 (unbuffered) or 1 (line-buffered)")
        if bufsize == 1 and not text:
            raise InvalidError("bufsize=1 (line-buffered) needs text=True")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise InvalidError(f"exec timeout must be a positive number of seconds, not {timeout!r}")
        if workdir is not None and (not isinstance(workdir, str) or not workdir.startswith("/")):
            raise InvalidError(f"exec workdir must be an absolute path, not {workdir!r}")
        for s in secrets:
            if not isinstance(s, Secret):
                raise InvalidError(f"exec secrets= must be modal.Secret objects, not {type(s).__name__}")
        out_type = stream_type_proto(stdout, "stdout")
        err_type = stream_type_proto(stderr, "stderr")
        app_id = self._info.app_id if self._info is not None else ""
        secret_ids = [await s._resolve(self._client, app_id) for s in secrets]
        pty = _pty_info or pty_info
        req = api_pb2.ProcessExec(
            sandbox_id=self._object_id,
            command=args,
            workdir=workdir or "",
            secret_ids=secret_ids,
            timeout_secs=float(timeout or 0),
            stdout=out_type,
            stderr=err_type,
            pty=bool(pty),
        )
        echo = {1: stdout is StreamType.STDOUT, 2: stderr is StreamType.STDOUT}
        channel = _ProcessChannel(self._client, api_pb2.ProcessStreamRequest(exec=req), echo=echo)
        await channel.start()
        return ContainerProcess(
            channel.process_id, self._client, stdout=stdout, stderr=stderr, text=text, by_line=bufsize == 1,
            _channel=channel,
        )

    # ---------- filesystem ----------
    @live_method
    async def open(self, path: str, mode: str = "r") -> FileIO:
        """Open a file in the sandbox; returns a FileIO handle (text or binary by `mode`)."""
        return await FileIO._open(path, mode, self._client, self._object_id)

    @live_method
    async def ls(self, path: str) -> list[str]:
        """The names in a directory of the sandbox."""
        return await FileIO._ls(path, self._client, self._object_id)

    @live_method
    async def mkdir(self, path: str, parents: bool = False) -> None:
        """Create a directory in the sandbox (and its parents, with `parents=True`)."""
        await FileIO._mkdir(path, self._client, self._object_id, parents)

    @live_method
    async def rm(self, path: str, recursive: bool = False) -> None:
        """Remove a file, or a directory (its contents too, with `recursive=True`)."""
        await FileIO._rm(path, self._client, self._object_id, recursive)

    @live_method_gen
    async def watch(
        self,
        path: str,
        filter: list[FileWatchEventType] | None = None,
        recursive: bool | None = None,
        timeout: int | None = None,
    ) -> AsyncIterator[FileWatchEvent]:
        """Changes under `path` as FileWatchEvents, until `timeout` seconds pass (or forever)."""
        async for event in FileIO._watch(path, self._client, self._object_id, filter, bool(recursive), timeout):
            yield event

    # ---------- snapshots ----------
    @live_method
    async def snapshot_filesystem(self, timeout: int = 55) -> Any:
        """An Image holding the sandbox's files as they are now; new sandboxes can start from it."""
        from modal.image import Image

        resp = await self._client.stub.SandboxSnapshotFs(
            api_pb2.SandboxSnapshotFsRequest(sandbox_id=self._object_id, timeout_secs=float(timeout))
        )
        return await Image._from_id(resp.image_id, self._client)

    # ---------- tunnels ----------
    @live_method
    async def tunnels(self, timeout: int = 50) -> dict[int, Any]:
        """The sandbox's tunnels (`encrypted_ports`/`unencrypted_ports`), keyed by container port."""
        from modal._tunnel import tunnel_from_proto

        resp = await self._client.stub.SandboxTunnels(
            api_pb2.SandboxTunnelsRequest(sandbox_id=self._object_id, timeout_secs=float(timeout))
        )
        return {t.container_port: tunnel_from_proto(t) for t in resp.tunnels}
