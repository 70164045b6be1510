"""`ImageBuilder`: layered root filesystems made from `modal.Image` build steps.

`ImageBuilder.build` walks the chain, reuses every layer already built and
builds the missing ones in order: `debian_slim` is the shared Debian base
rootfs (mmdebstrap), `pip_install` / `apt_install` / `run_commands` run in a
build container whose writable overlay layer becomes the new layer, `env` and
`workdir` only record metadata. A layer is built under a file lock into a
temporary directory and committed by renames, so concurrent builds of one
layer build it once and a failed build leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nodal import paths
from nodal.images import identity
from nodal.images.base_rootfs import ensure_base_rootfs
from nodal.images.builder import BuiltImage, Step
from nodal.images.errors import ImageBuildError
from nodal.images.layers import LayerRecord, LayerStore
from nodal.images.locking import file_lock
from nodal.images.steps import BUILD_TOOLS_DIR, FILES_DIR, UV_CACHE, UV_PATH, StepPlan, copy_script, plan_step
from nodal.runtime.backend import Bind, ContainerSpec
from nodal.runtime.launcher import DEFAULT_ENV, NetworkMode, launch, pump_lines

BuildLog = Callable[[str], None]
HOST_CA_DEST = f"{BUILD_TOOLS_DIR}/ca-certificates.crt"


def _host_ca_bundle() -> Path | None:
    """The CA bundle this host trusts (it may include a corporate/egress CA the image lacks)."""
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@dataclass
class _ChainState:
    """What the steps so far have produced: the layer stack and the accumulated metadata."""

    layers: list[Path] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/root"
    python_version: str = ""


class ImageBuilder:
    """Builds and caches image layers under `root` (default: `$NODAL_HOME/images`).

    `base_dir` holds the Debian base root filesystems (default: `$NODAL_BASE_CACHE`
    if set, else `root/base`); pointing several builders at one base_dir shares the
    ~30 s base build between them (tests do this).
    """

    def __init__(
        self,
        root: Path | None = None,
        base_dir: Path | None = None,
        trust_host_ca: bool = True,
        blobs_dir: Path | None = None,
    ) -> None:
        self.root = Path(root) if root is not None else paths.images_dir()
        env_base = os.environ.get("NODAL_BASE_CACHE")
        self.base_dir = Path(base_dir) if base_dir else Path(env_base) if env_base else self.root / "base"
        self.store = LayerStore(self.root)
        self.scratch_root = self.root / "build-containers"
        self.uv_cache = self.root / "cache" / "uv"
        self.host_ca = _host_ca_bundle() if trust_host_ca else None
        # where copy_files steps find their files: the server's content-addressed blob store
        self.blobs_dir = Path(blobs_dir) if blobs_dir is not None else paths.blobs_dir()

    def image_id(self, steps: list[Step]) -> str:
        """The image's deterministic identity ("im-" + hex) from its chain of steps."""
        return identity.image_id(steps)

    def cached(self, steps: list[Step]) -> BuiltImage | None:
        """The built image if every layer is already built (and none is forced), else None."""
        if not steps or any(s.force_build for s in steps):
            return None
        state = _ChainState()
        for lid in identity.layer_ids(steps):
            record = self.store.load(lid)
            if record is None:
                return None
            self._apply(state, record)
        return self._result(steps, state)

    async def build(
        self,
        steps: list[Step],
        log: BuildLog = lambda line: None,
        secret_env: Sequence[dict[str, str]] | None = None,
    ) -> BuiltImage:
        """Build whatever layers are missing (or forced) and return the image; raises ImageBuildError.

        `secret_env[i]` (optional) is extra env for step i's build commands, from its secrets:
        it is not part of the layer identity and is not stored in the image.
        """
        self._check_chain(steps)
        state = _ChainState()
        forced = False
        for index, (step, lid) in enumerate(zip(steps, identity.layer_ids(steps)), start=1):
            forced = forced or step.force_build  # a rebuilt layer invalidates the ones above it
            record = None if forced else self.store.load(lid)
            if record is None:
                log(f"=> Step {index}/{len(steps)}: {step.kind} {_summary(step)}")
                extra = dict(secret_env[index - 1]) if secret_env and index - 1 < len(secret_env) else {}
                record = await self._build_layer(step, lid, state, log, forced, extra)
            self._apply(state, record)
        return self._result(steps, state)

    # -- internals -------------------------------------------------------------------------

    def _check_chain(self, steps: list[Step]) -> None:
        if not steps:
            raise ImageBuildError("An image needs at least one build step.")
        if steps[0].kind != "debian_slim":
            raise ImageBuildError(
                f"Images must start with Image.debian_slim() on this server; `{steps[0].kind}` "
                "as a base image is not supported yet."
            )
        for step in steps[1:]:
            if step.kind == "debian_slim":
                raise ImageBuildError("Image.debian_slim() can only be the first step of an image.")

    def _apply(self, state: _ChainState, record: LayerRecord) -> None:
        if record.dir is not None:
            state.layers.append(self.store.layer_path(record))
        state.env.update(record.env)
        if record.workdir:
            state.workdir = record.workdir
        if record.python_version:
            state.python_version = record.python_version

    def _result(self, steps: list[Step], state: _ChainState) -> BuiltImage:
        return BuiltImage(
            image_id=identity.image_id(steps),
            layers=list(state.layers),
            env=dict(state.env),
            workdir=state.workdir,
            python="/usr/bin/python3",
            python_version=state.python_version,
        )

    async def _build_layer(
        self, step: Step, lid: str, state: _ChainState, log: BuildLog, force: bool, extra_env: dict[str, str]
    ) -> LayerRecord:
        async with file_lock(self.store.lock_path(lid)):
            if not force:  # someone may have built it while we waited for the lock
                record = self.store.load(lid)
                if record is not None:
                    log(f"   (built concurrently by another build; reusing layer {lid[:12]})")
                    return record
            started = time.monotonic()
            if step.kind == "debian_slim":
                version = step.spec.get("python_version") or f"{sys.version_info[0]}.{sys.version_info[1]}"
                if not isinstance(version, str):
                    raise ImageBuildError(
                        f"Image.debian_slim: python_version must be a string, got {version!r}"
                    )
                rootfs = await ensure_base_rootfs(self.base_dir, version, log, force=force)
                record = LayerRecord(
                    layer_id=lid, kind=step.kind, dir=str(rootfs), python_version=version, workdir="/root"
                )
                return self.store.commit(record)
            plan = plan_step(step, "/usr/bin/python3")
            workdir = (
                posixpath.normpath(posixpath.join(state.workdir, plan.workdir)) if plan.workdir else None
            )
            built = (
                await self._run_commands(step, lid, state, plan, log, extra_env) if plan.commands else None
            )
            record = LayerRecord(
                layer_id=lid,
                kind=step.kind,
                env=plan.image_env,
                workdir=workdir,
                build_seconds=round(time.monotonic() - started, 3),
            )
            try:
                return self.store.commit(record, built)
            except BaseException:
                if built is not None:
                    shutil.rmtree(built, ignore_errors=True)
                raise

    def _stage_files(self, plan: StepPlan, lid: str) -> Path:
        """A directory holding the step's files (hard links to blobs, named by index) and copy.sh."""
        stage = self.root / "stage" / f"{lid[:16]}-{uuid.uuid4().hex[:8]}"
        stage.mkdir(parents=True)
        try:
            for index, (dest, sha, _mode) in enumerate(plan.files):
                blob = self.blobs_dir / sha[:2] / sha
                if not blob.is_file():
                    raise ImageBuildError(f"Image copy step: the content of {dest} ({sha[:12]}) was not uploaded.")
                try:
                    os.link(blob, stage / str(index))
                except OSError:
                    shutil.copyfile(blob, stage / str(index))
            (stage / "copy.sh").write_text(copy_script(plan.files))
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        return stage

    def _build_binds(self, plan: StepPlan, stage: Path | None = None) -> tuple[list[Bind], dict[str, str]]:
        binds: list[Bind] = []
        env: dict[str, str] = {}
        if stage is not None:
            binds.append(Bind(stage, FILES_DIR))
        if plan.needs_uv:
            from uv import find_uv_bin

            self.uv_cache.mkdir(parents=True, exist_ok=True)
            binds += [Bind(Path(find_uv_bin()), UV_PATH), Bind(self.uv_cache, UV_CACHE, read_only=False)]
        if Path("/etc/resolv.conf").exists():
            binds.append(Bind(Path("/etc/resolv.conf").resolve(), "/etc/resolv.conf"))
        if self.host_ca is not None:
            binds.append(Bind(self.host_ca.resolve(), HOST_CA_DEST))
            for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE"):
                env[var] = HOST_CA_DEST
        return binds, env

    async def _run_commands(
        self,
        step: Step,
        lid: str,
        state: _ChainState,
        plan: StepPlan,
        log: BuildLog,
        extra_env: dict[str, str],
    ) -> Path:
        """Run the step's commands in build containers writing into a fresh upper dir; return it."""
        stage = await asyncio.to_thread(self._stage_files, plan, lid) if plan.files else None
        try:
            return await self._run_in_build(step, lid, state, plan, log, extra_env, stage)
        finally:
            if stage is not None:
                await asyncio.to_thread(shutil.rmtree, stage, True)

    async def _run_in_build(
        self,
        step: Step,
        lid: str,
        state: _ChainState,
        plan: StepPlan,
        log: BuildLog,
        extra_env: dict[str, str],
        stage: Path | None,
    ) -> Path:
        built = self.store.new_build_dir(lid)
        built.chmod(0o755)
        binds, tool_env = self._build_binds(plan, stage)
        env = {**DEFAULT_ENV, **state.env, **extra_env, **plan.env, **tool_env}
        try:
            for argv in plan.commands:
                spec = ContainerSpec(
                    container_id=f"build-{lid[:12]}-{uuid.uuid4().hex[:8]}",
                    layers=list(state.layers),
                    command=argv,
                    env=env,
                    binds=binds,
                    workdir=state.workdir,
                    hostname="modal-build",
                )
                self.scratch_root.mkdir(parents=True, exist_ok=True)
                container = await launch(
                    spec,
                    self.scratch_root,
                    network=NetworkMode.HOST,
                    upper_dir=built,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )
                try:
                    assert container.process.stdout is not None
                    await pump_lines(container.process.stdout, log)
                    code = await container.wait()
                except BaseException:
                    container.kill()
                    await container.wait()
                    raise
                finally:
                    await container.cleanup()
                if code != 0:
                    raise ImageBuildError(
                        f"Image build step {step.kind} failed: `{_describe(argv)}` exited with code {code}."
                    )
            await asyncio.to_thread(shutil.rmtree, built / BUILD_TOOLS_DIR.lstrip("/"), True)
            return built
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, built, True)
            raise


def _describe(argv: list[str]) -> str:
    if argv[:2] == ["/bin/sh", "-c"]:
        return argv[2]
    return " ".join(argv)


def _summary(step: Step) -> str:
    spec = step.spec
    if step.kind in ("pip_install", "apt_install"):
        return " ".join(spec.get("packages", []))
    if step.kind == "run_commands":
        return "; ".join(spec.get("commands", []))
    if step.kind == "debian_slim":
        return f"python {spec.get('python_version') or ''}".strip()
    if step.kind == "copy_files":
        files = spec.get("files")
        return f"{len(files)} file(s)" if isinstance(files, list) else ""
    return str(spec)
