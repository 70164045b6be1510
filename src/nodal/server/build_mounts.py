"""Volumes and network file systems in image build containers (`Image.run_function(volumes=,
network_file_systems=)`): mounted like a function container's, volumes committed when the
step succeeds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nodal.proto import api_pb2
from nodal.runtime.backend import Bind
from nodal.server.nfs import NfsService
from nodal.server.volumes import VolumeService

Finish = Callable[[bool], Awaitable[None]]


def build_mounter(volumes: VolumeService, nfs: NfsService):
    """The `ImageBuilder.attach_data_mounts` callback for this server's volume and NFS services."""

    async def attach(owner: str, mounts: list[tuple[str, str, str]]) -> tuple[list[Bind], Finish]:
        binds: list[Bind] = []
        mounted: list[str] = []
        try:
            for kind, object_id, path in mounts:
                if kind == "volume":
                    binds.append(Bind(await volumes.mount(owner, object_id), path, read_only=False))
                    mounted.append(object_id)
                else:
                    binds.append(Bind(nfs.host_dir(object_id), path, read_only=False))
        except BaseException:
            volumes.release(owner)
            raise

        async def finish(success: bool) -> None:
            try:
                if success:
                    for volume_id in mounted:
                        await volumes.commit(api_pb2.VolumeCommitRequest(container_id=owner, volume_id=volume_id))
            finally:
                volumes.release(owner)

        return binds, finish

    return attach
