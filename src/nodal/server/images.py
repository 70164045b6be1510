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
            build = self.builds[image_id] = _Build(steps=steps, mounts=mounts)
            self.store.put_image(image_id, spec.SerializeToString())
            build.task = asyncio.get_running_loop().create_task(self._run(image_id, build))
        return image_id

    @staticmethod
    def _finished(build: _Build) -> bool:
        return build.task is None or build.task.done()

    async def _run(self, image_id: str, build: _Build) -> None:
        def on_line(line: str) -> None:
            build.lines.append(line)
            build.changed.set()

        try:
            built = await self.builder.build(build.steps, on_line)
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
