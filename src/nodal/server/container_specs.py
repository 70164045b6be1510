"""Turns a pool's function definition into a `ContainerSpec` and starts it."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from nodal import paths
from nodal.proto import api_pb2
from nodal.runtime.backend import Bind, ContainerSpec, RuntimeBackend
from nodal.server.apps import AppService
from nodal.server.images import ImageService
from nodal.server.logs import LogHub
from nodal.server.pool import ContainerSlot, Pool
from nodal.server.spares import MAX_IMAGES, SpareContainers
from nodal.store.blobs.local_dir import LocalDirBlobStore

log = logging.getLogger(__name__)

CONTAINER_SOCKET = "/run/nodal/server.sock"
CONTAINER_STREAMS_SOCKET = "/run/nodal/streams.sock"
CONTAINER_CA = "/run/nodal/server-ca.pem"  # the CA of the server's TLS listener (Ray backend)


def _empty_dir() -> Path:
    """An empty, read-only directory to mount over host paths a container must not see."""
    empty = paths.nodal_home() / "empty"
    empty.mkdir(mode=0o555, exist_ok=True)
    return empty


class ContainerLauncher:
    def __init__(
        self,
        runtime: RuntimeBackend,
        apps: AppService,
        images: ImageService,
        blobs: LocalDirBlobStore,
        logs: LogHub,
        socket_path: Path,
        on_exit,
    ) -> None:
        self.runtime = runtime
        self.apps = apps
        self.images = images
        self.blobs = blobs
        self.logs = logs
        self.socket_path = socket_path
        self.streams_socket_path: Path | None = None  # the containers' framed-stream socket, set by main
        self.on_exit = on_exit
        self.spares: SpareContainers | None = None  # pre-started containers (nodal.server.spares), set by main

    def _secret_env(self, secret_ids) -> dict[str, str]:
        """The secrets' variables, decrypted by the server's secret service (set by main)."""
        secrets = getattr(self, "secrets", None)
        if secrets is None:
            from nodal.server.secrets import SecretService

            secrets = self.secrets = SecretService.default(self.apps.store)
        return secrets.env_for(secret_ids)

    def _function_env(self, app, d) -> dict[str, str]:
        """What a function adds to its image's environment: secrets, its own `env`, its app's
        environment name (a spare gets these with its init)."""
        env = self._secret_env(d.secret_ids)
        env.update(d.env)
        env["MODAL_ENVIRONMENT"] = app.environment
        return env

    @staticmethod
    def _system_env(container_id: str, token: str) -> dict[str, str]:
        return {
            "MODAL_TASK_ID": container_id,
            "MODAL_IS_REMOTE": "1",
            "NODAL_CONTAINER_ID": container_id,
            "NODAL_CONTAINER_TOKEN": token,
            "NODAL_SERVER_SOCKET": CONTAINER_SOCKET,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": "/root",
        }

    async def __call__(self, pool: Pool, slot: ContainerSlot) -> None:
        d = pool.definition
        if slot.spare is not None:
            await self._adopt(pool, slot)
        else:
            await self._start(pool, slot)
        spares = self.spares
        if spares is not None and not slot.snapshot and self.spare_fits(pool):
            spares.replenish(spares.kind(d))  # the next cold start of this image finds one ready

    def spare_fits(self, pool: Pool) -> bool:
        return self._spare_fits(pool.definition, pool.app_id, pool.gpu_request)

    def _spare_fits(self, d: api_pb2.FunctionDef, app_id: str, gpu_request: str) -> bool:
        spares = self.spares
        return spares is not None and getattr(self.runtime, "remote_server", None) is None and spares.fits(
            d, app_id, gpu_request, lambda: self._secret_env(d.secret_ids))

    def prewarm(self, app_id: str, definitions) -> None:
        """Boot spares for a just published app's images, so that its functions' first calls
        find one (their images are built by now)."""
        if self.spares is None:
            return
        kinds = []
        for d in definitions:
            if d.enable_memory_snapshot and not d.gpu:
                continue  # its memory snapshot serves its first call (nodal.server.scheduler)
            kind = self.spares.kind(d)
            if kind not in kinds and self._spare_fits(d, app_id, d.gpu):
                kinds.append(kind)
        for kind in kinds[:MAX_IMAGES]:
            self.spares.replenish(kind)

    def take_spare(self, pool: Pool):
        """A started spare container for `pool`'s next container, or None (nodal.server.spares)."""
        if self.spares is None or not self.spare_fits(pool):
            return None
        return self.spares.take(self.spares.kind(pool.definition))

    async def _adopt(self, pool: Pool, slot: ContainerSlot) -> None:
        """Hand the spare in `slot` its function: the environment and code files a container
        started for it would have had."""
        spare = slot.spare
        try:
            app = self.apps.require_app(pool.app_id)
            files = []
            for path, sha, mode in json.loads(app.code_json):
                data = await asyncio.to_thread(self.blobs.path(sha).read_bytes)
                files.append(api_pb2.ContainerFile(path=path, mode=mode, data=data))
            env = self._function_env(app, pool.definition)
        except BaseException:
            self.spares.exited(spare)  # its worker is told to end; the slot's launch fails as usual
            raise

        def on_log(container_id: str, stream: str, line: str) -> None:
            self.logs.append(pool.app_id, line, stream=stream, function_name=pool.name, container_id=container_id)

        spare.on_log = on_log
        spare.on_exit = self._then_web_gone(self.on_exit) if spare.web else self.on_exit
        assign = getattr(self.runtime, "assign_resources", None)
        if assign is not None:
            assign(slot.container_id, pool.definition.cpu, pool.definition.memory_mb)
        self.spares.adopt(spare, pool, slot, env, files)

    async def start_spare(self, spare) -> None:
        """Start a spare container of `spare.image_id`: the image, the SDK and the server's
        sockets, its worker importing everything before it waits for a function."""
        from nodal.runtime.sdk_site import worker_command

        image = await self.images.get(spare.image_id)
        env = dict(image.env)
        env.update(self._system_env(spare.container_id, spare.token))
        env["NODAL_SPARE"] = "1"
        binds = await self._image_binds(image, env)
        if spare.web:
            binds.append(self._web_bind(spare.container_id, env))
        spec = ContainerSpec(container_id=spare.container_id, layers=list(image.layers),
                             command=worker_command(image.python), env=env, binds=binds,
                             workdir=image.workdir or "/root")

        def on_log(container_id: str, stream: str, line: str) -> None:
            if spare.on_log is not None:
                spare.on_log(container_id, stream, line)
            else:
                log.info("spare container %s: %s", container_id, line)

        async def on_exit(container_id: str, code: int) -> None:
            if spare.on_exit is None:
                self.spares.exited(spare)
                return
            self.spares.release(spare)
            result = spare.on_exit(container_id, code)
            if asyncio.iscoroutine(result):
                await result

        await self.runtime.start(spec, on_log, on_exit)

    async def _image_binds(self, image, env: dict[str, str]) -> list[Bind]:
        """The binds every container of `image` has: the SDK, the server's sockets, the image's
        own start-time files. Adds the variables that go with them to `env`."""
        from nodal.runtime.sdk_site import sdk_binds

        binds = list(await asyncio.to_thread(sdk_binds, image.python_version))
        remote = getattr(self.runtime, "remote_server", None)  # the Ray backend: TCP+TLS, not the socket
        if remote is not None:
            del env["NODAL_SERVER_SOCKET"]
            for prefix in ("NODAL", "MODAL"):  # the worker's channel, and the SDK's client in user code
                env[f"{prefix}_SERVER_URL"], env[f"{prefix}_SERVER_CA"] = remote.url, CONTAINER_CA
            binds.append(Bind(remote.ca_file, CONTAINER_CA, read_only=True))
            tls_port = getattr(self, "streams_tls_port", 0)  # the framed streams over TLS, set by main
            if tls_port:  # the worker's stream rides it, on the host of NODAL_SERVER_URL (nodal.proto.framing)
                env["NODAL_STREAMS_TLS_PORT"] = str(tls_port)
        else:
            binds.append(Bind(self.socket_path, CONTAINER_SOCKET, read_only=False))
            if self.streams_socket_path is not None:  # the hot streams without gRPC (nodal.proto.framing)
                binds.append(Bind(self.streams_socket_path, CONTAINER_STREAMS_SOCKET, read_only=False))
                env["NODAL_STREAMS_SOCKET"] = CONTAINER_STREAMS_SOCKET
        if any(str(layer) == "/" for layer in image.layers):  # nodal.ext.host_image: mask our own state
            binds.append(Bind(_empty_dir(), str(paths.nodal_home().resolve()), read_only=True))
        for path, sha, _mode in image.mounts:  # add_local_* with copy=False: added at start, not built
            binds.append(Bind(self.blobs.path(sha), path, read_only=True))
        return binds

    def _then_web_gone(self, on_exit):
        """`on_exit`, then telling the gateway a web container is gone."""
        web_gone = getattr(self, "web_gone", None)  # Gateway.container_gone, set by main

        async def exited(container_id: str, code: int) -> None:
            result = on_exit(container_id, code)
            if asyncio.iscoroutine(result):
                await result
            if web_gone is not None:
                await web_gone(container_id)

        return exited

    @staticmethod
    def _web_bind(container_id: str, env: dict[str, str]) -> Bind:
        """The directory through which the gateway reaches a web container's servers."""
        from nodal.server.gateway import sockets as web_sockets

        web_dir = web_sockets.container_socket_dir(container_id)
        web_dir.mkdir(parents=True, exist_ok=True)
        env["NODAL_WEB_DIR"] = web_sockets.CONTAINER_WEB_DIR
        return Bind(web_dir, web_sockets.CONTAINER_WEB_DIR, read_only=False)

    async def _start(self, pool: Pool, slot: ContainerSlot) -> None:
        from nodal.runtime.sdk_site import worker_command

        d = pool.definition
        image = await self.images.get(d.image_id)
        app = self.apps.require_app(pool.app_id)
        env = dict(image.env)
        env.update(self._function_env(app, d))
        env.update(self._system_env(slot.container_id, slot.token))
        binds = await self._image_binds(image, env)
        remote = getattr(self.runtime, "remote_server", None)  # the Ray backend
        if d.block_network:  # its relay on a Ray node passes the server's gRPC port only
            env.pop("NODAL_STREAMS_TLS_PORT", None)
        for path, sha, _mode in json.loads(app.code_json):
            binds.append(Bind(self.blobs.path(sha), path, read_only=True))
        if d.nfs_mounts:  # network_file_systems=: the shared host directory itself, read-write
            nfs = getattr(self, "nfs", None)  # nodal.server.nfs.NfsService, set by main
            if nfs is None:
                raise RuntimeError("this server has no network file system service")
            for nm in d.nfs_mounts:
                binds.append(Bind(nfs.host_dir(nm.nfs_id), nm.mount_path, read_only=False))

        on_exit = self.on_exit
        volumes = getattr(self, "volumes", None)  # nodal.server.volumes.VolumeService, set by main
        node_volumes: list = []  # on Ray nodes: what the node writes and binds itself
        if d.volume_mounts:
            if volumes is None:
                raise RuntimeError("this server has no volume service")
            for vm in d.volume_mounts:
                if remote is not None:  # a node shares no disk with us: it fetches the files from the blob store
                    from nodal.runtime.node_volumes import NodeVolume

                    same = next((nv for nv in node_volumes if nv.volume_id == vm.volume_id), None)
                    if same is None:
                        version, manifest = await volumes.mount_on_node(slot.container_id, vm.volume_id, self.runtime)
                    else:  # the same volume at another path: the same directory
                        version, manifest = same.version, same.manifest
                    node_volumes.append(NodeVolume(vm.volume_id, vm.mount_path, version, manifest))
                    continue
                view = await volumes.mount(slot.container_id, vm.volume_id)
                binds.append(Bind(view, vm.mount_path, read_only=False))

            async def on_exit(container_id: str, code: int, _inner=self.on_exit) -> None:
                volumes.release(container_id)
                result = _inner(container_id, code)
                if asyncio.iscoroutine(result):
                    await result

        buckets = getattr(self, "buckets", None)  # nodal.server.bucket_mounts.BucketMountService, set by main
        if d.bucket_mounts:  # CloudBucketMount: the bucket's objects, copied into this container's directory
            if buckets is None:
                raise RuntimeError("this server has no cloud bucket mount service")
            try:
                for host_dir, mount_path, read_only in await buckets.mount(
                        slot.container_id, slot.token, d.bucket_mounts):
                    binds.append(Bind(host_dir, mount_path, read_only=read_only))
            except BaseException:
                if volumes is not None:
                    volumes.release(slot.container_id)
                raise

            async def on_exit(container_id: str, code: int, _inner=on_exit) -> None:
                buckets.release(container_id)
                result = _inner(container_id, code)
                if asyncio.iscoroutine(result):
                    await result

        if d.web_endpoints:  # the gateway reaches the web servers through sockets in this directory
            binds.append(self._web_bind(slot.container_id, env))
            on_exit = self._then_web_gone(on_exit)

        spec = ContainerSpec(
            container_id=slot.container_id,
            layers=list(image.layers),
            command=worker_command(image.python),
            env=env,
            binds=binds,
            workdir=image.workdir or "/root",
            block_network=d.block_network,
            cpu=d.cpu,
            gpu=pool.gpu_request,  # reserved by the scheduler ("" when it fell back to CPU)
            cpu_limit=d.cpu_limit,
            memory_mb=d.memory_mb,
            memory_limit_mb=d.memory_limit_mb,
            node_volumes=node_volumes,
        )

        def on_log(container_id: str, stream: str, line: str) -> None:
            self.logs.append(pool.app_id, line, stream=stream, function_name=pool.name, container_id=container_id)

        try:
            await self.runtime.start(spec, on_log, on_exit)
        except BaseException:
            if volumes is not None:
                volumes.release(slot.container_id)
            if buckets is not None:
                buckets.release(slot.container_id)
            raise
