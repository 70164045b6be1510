"""Image builds as the server runs them: one build task per image, its log kept for joiners."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

from nodal.images.builder import BuiltImage, Step
from nodal.images.identity import image_id_with_mounts
from nodal.proto import api_pb2
from nodal.server.errors import invalid, not_found

log = logging.getLogger("nodal.images")


@dataclass
class _Build:
    steps: list[Step]
    secret_ids: list[list[str]] = field(default_factory=list)
    # per step: [("volume" | "nfs", object id, mount path)] for run_function's data mounts
    data_mounts: list[list[tuple[str, str, str]]] = field(default_factory=list)
    mounts: list[tuple[str, str, int]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    result: BuiltImage | None = None
    error: str = ""


def steps_from_spec(spec: api_pb2.ImageSpec) -> list[Step]:
    if not spec.steps:
        raise invalid("an image needs at least one step (e.g. Image.debian_slim())")
    steps = []
    for s in spec.steps:
        try:
            args = json.loads(s.spec_json or "{}")
        except ValueError as exc:
            raise invalid(f"image step {s.kind!r} has a malformed spec: {exc}") from None
        if not isinstance(args, dict):
            raise invalid(f"image step {s.kind!r} spec must be a JSON object")
        steps.append(Step(kind=s.kind, spec=args, force_build=s.force_build))
    return steps


def step_data_mounts(spec: api_pb2.ImageSpec) -> list[list[tuple[str, str, str]]]:
    """The volumes and network file systems each step mounts (run_function), validated."""
    out = []
    for s in spec.steps:
        mounts = [("volume", m.volume_id, m.mount_path) for m in s.volume_mounts]
        mounts += [("nfs", m.nfs_id, m.mount_path) for m in s.nfs_mounts]
        for _kind, _id, path in mounts:
            if not path.startswith("/") or ".." in path.split("/") or path in ("/", "/root", "/tmp"):
                raise invalid(f"image step {s.kind}: mount path {path!r} must be absolute, not /, /root or /tmp")
        out.append(mounts)
    return out


def step_secret_ids(spec: api_pb2.ImageSpec) -> list[list[str]]:
    """The secret ids given to each step (build-time env only)."""
    return [list(s.secret_ids) for s in spec.steps]


def mounts_from_spec(spec: api_pb2.ImageSpec) -> list[tuple[str, str, int]]:
    """The files bound at container start, validated: (absolute path, sha256, mode), sorted."""
    mounts = []
    for m in spec.mounts:
        if not m.path.startswith("/") or len(m.sha256) != 64:
            raise invalid(f"image mount {m.path!r} needs an absolute path and a sha256 digest")
        mounts.append((m.path, m.sha256, m.mode or 0o644))
    return sorted(mounts)


class ImageService:
    def __init__(self, builder, store) -> None:  # builder: nodal.images ImageBuilder
        self.builder = builder
        self.store = store
        self.builds: dict[str, _Build] = {}

    def is_built(self, image_id: str) -> bool:
        """True when the image is already built here (its build log need not be shown again)."""
        build = self.builds.get(image_id)
        return build is not None and build.result is not None and not build.error

    def get_or_create(self, spec: api_pb2.ImageSpec) -> str:
        steps = steps_from_spec(spec)
        mounts = mounts_from_spec(spec)
        image_id = image_id_with_mounts(steps, mounts) if mounts else self.builder.image_id(steps)
        build = self.builds.get(image_id)
        forced = any(s.force_build for s in steps)
        if build is None and not forced:
            cached = self.builder.cached(steps)
            if cached is not None:  # built by an earlier server run: nothing to do or show
                result = replace(cached, image_id=image_id, mounts=mounts)
                self.builds[image_id] = _Build(steps=steps, mounts=mounts, result=result)
                self.store.put_image(image_id, spec.SerializeToString())
                return image_id
        if build is None or (forced and self._finished(build)) or build.error:
            build = self.builds[image_id] = _Build(steps=steps, mounts=mounts, secret_ids=step_secret_ids(spec),
                                                   data_mounts=step_data_mounts(spec))
            self.store.put_image(image_id, spec.SerializeToString())
            build.task = asyncio.get_running_loop().create_task(self._run(image_id, build))
        return image_id

    def _secret_env(self, secret_ids: list[str]) -> dict[str, str]:
        """The decrypted variables of a step's secrets (never logged nor stored in a layer)."""
        if not secret_ids:
            return {}
        secrets = getattr(self, "secrets", None)
        if secrets is None:
            from nodal.server.secrets import SecretService

            secrets = self.secrets = SecretService.default(self.store)
        return secrets.env_for(secret_ids)

    def spec_of(self, image_id: str) -> api_pb2.ImageSpec:
        """The spec an image was created from (`Image.from_id`); NotFoundError if unknown."""
        if not isinstance(image_id, str) or not image_id.startswith("im-"):
            raise invalid(f"Image.from_id: {image_id!r} is not an image id (they look like 'im-...')")
        raw = self.store.get_image(image_id)
        if raw is None:
            raise not_found(f"Image.from_id: image {image_id} is unknown to this server")
        return api_pb2.ImageSpec.FromString(raw)

    def layers_in_use(self) -> set[str]:
        """Layers of the images of live apps, unfinished sandboxes and builds in progress."""
        from nodal.images.gc import layers_of

        image_ids: set[str] = set()
        for app in self.store.list_apps():
            if app.state == api_pb2.APP_STATE_STOPPED:
                continue
            for fn in self.store.list_functions(app.app_id):
                image_ids.add(api_pb2.FunctionDef.FromString(fn.definition).image_id)
        list_sandboxes = getattr(self.store, "list_sandboxes", None)
        try:
            for raw in list_sandboxes(None, False) if list_sandboxes is not None else []:
                image_ids.add(api_pb2.SandboxInfo.FromString(raw).image_id)
        except NotImplementedError:
            pass
        chains = [b.steps for b in self.builds.values() if not self._finished(b)]
        for image_id in image_ids:
            raw = self.store.get_image(image_id) if image_id else None
            if raw is not None:
                try:
                    chains.append(steps_from_spec(api_pb2.ImageSpec.FromString(raw)))
                except Exception:  # noqa: BLE001 - an unreadable spec protects nothing
                    continue
        return layers_of(chains)

    async def layers(self) -> api_pb2.ImageLayersResponse:
        """Every built layer with its size and whether something uses it (`modal image list`)."""
        import asyncio

        from nodal.images.gc import layer_usage

        usage = await asyncio.to_thread(layer_usage, self.builder.store, self.layers_in_use())
        return api_pb2.ImageLayersResponse(
            layers=[api_pb2.ImageLayerInfo(layer_id=u.layer_id, kind=u.kind, size_bytes=u.size_bytes,
                                           last_used=u.last_used, in_use=u.in_use) for u in usage],
            total_bytes=sum(u.size_bytes for u in usage),
        )

    async def prune(self, request: api_pb2.ImagePruneRequest) -> api_pb2.ImagePruneResponse:
        """Remove unused layers (`modal image prune`); forgets this server's records of their images."""
        import asyncio
        import math

        from nodal.images.gc import prune

        keep = request.keep_seconds
        if not math.isfinite(keep) or keep < 0:
            raise invalid(f"keep_seconds must be a non-negative number, got {keep}")
        result = await asyncio.to_thread(prune, self.builder.store, self.layers_in_use(), keep, request.dry_run)
        if not request.dry_run and result.removed:
            for image_id, build in list(self.builds.items()):
                if self._finished(build):
                    del self.builds[image_id]  # rebuilt (or found cached) on next use
        return api_pb2.ImagePruneResponse(removed=result.removed, freed_bytes=result.freed_bytes,
                                          kept_bytes=result.kept_bytes)

    @staticmethod
    def _finished(build: _Build) -> bool:
        return build.task is None or build.task.done()

    async def _run(self, image_id: str, build: _Build) -> None:
        def on_line(line: str) -> None:
            build.lines.append(line)
            build.changed.set()

        try:
            secret_env = [self._secret_env(ids) for ids in build.secret_ids]
            built = await self.builder.build(build.steps, on_line, secret_env=secret_env,
                                             data_mounts=build.data_mounts)
            build.result = replace(built, image_id=image_id, mounts=list(build.mounts))
        except Exception as exc:  # noqa: BLE001 - reported to every joiner
            log.info("image %s failed: %s", image_id, exc)
            build.error = str(exc) or type(exc).__name__
        build.changed.set()

    async def get(self, image_id: str) -> BuiltImage:
        """The built image, building it first if this server has not (e.g. after a restart)."""
        build = self.builds.get(image_id)
        if build is None:
            raw = self.store.get_image(image_id)
            if raw is None:
                raise not_found(f"image {image_id} is unknown to this server")
            self.get_or_create(api_pb2.ImageSpec.FromString(raw))
            build = self.builds[image_id]
        if build.task is not None:
            await asyncio.shield(build.task)
        if build.error:
            raise RuntimeError(f"image build failed: {build.error}")
        assert build.result is not None
        return build.result

    async def join(self, image_id: str) -> AsyncIterator[api_pb2.ImageBuildEvent]:
        build = self.builds.get(image_id)
        if build is None:
            raise not_found(f"no build for image {image_id}; call ImageGetOrCreate first")
        sent = 0
        while True:
            build.changed.clear()
            while sent < len(build.lines):
                yield api_pb2.ImageBuildEvent(log=build.lines[sent])
                sent += 1
            if self._finished(build):
                yield api_pb2.ImageBuildEvent(done=True, success=not build.error, error=build.error)
                return
            await build.changed.wait()
