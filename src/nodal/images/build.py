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
import contextlib
import os
import posixpath
import shutil
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nodal import paths
from nodal.images import identity
from nodal.images.base_rootfs import ensure_base_rootfs
from nodal.images.builder import BuiltImage, Step
from nodal.images.errors import ImageBuildError
from nodal.images.layers import LayerRecord, LayerStore
from nodal.images.locking import file_lock
from nodal.images.steps import (
    BASE_KINDS,
    BUILD_TOOLS_DIR,
    FILES_DIR,
    UV_CACHE,
    UV_PATH,
    StepPlan,
    copy_script,
    plan_step,
)
from nodal.runtime.backend import Bind, ContainerSpec
from nodal.runtime.gpus import GpuAllocator
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
    python: str = "/usr/bin/python3"
    meta: dict = field(default_factory=dict)


GPU_WAIT_SECONDS = 3600.0  # how long a build step with gpu= waits for a busy GPU when it has no timeout


# (owner, [(kind, id, path)]) -> (binds, finish(success)); see ImageBuilder.attach_data_mounts
DataMounter = Callable[[str, list], Awaitable[tuple[list[Bind], Callable[[bool], Awaitable[None]]]]]


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
        # Set by the server: a blob's local file, fetched from a remote blob store (s3://) when this
        # machine has not cached it; raises KeyError when the store lacks it.
        self.fetch_blob: Callable[[str], Path] | None = None
        # The server's GPUs (the runtime's allocator) for build steps with gpu=, and what such a
        # step gets when the server has none of that type ("cpu": build without; "queue": fail).
        self.gpus: GpuAllocator | None = None
        self.gpu_fallback = "cpu"
        # Mounts a build container's volumes / network file systems (set by the server):
        # (owner, [(kind, id, path)]) -> (binds, finish(success)) where finish commits and releases.
        self.attach_data_mounts: DataMounter | None = None
        self._data_mounts: dict[str, list[tuple[str, str, str]]] = {}  # layer id -> its step's mounts

    def image_id(self, steps: list[Step]) -> str:
        """The image's deterministic identity ("im-" + hex) from its chain of steps."""
        return identity.image_id(steps)

    def cached(self, steps: list[Step]) -> BuiltImage | None:
        """The built image if every layer is already built (and none is forced), else None."""
        if not steps or any(s.force_build for s in steps):
            return None
        state = _ChainState()
        lids = identity.layer_ids(steps)
        for lid in lids:
            record = self.store.load(lid)
            if record is None:
                return None
            self._apply(state, record)
        for lid in lids:
            self.store.touch(lid)
        if not state.python:
            return None
        return self._result(steps, state)

    async def build(
        self,
        steps: list[Step],
        log: BuildLog = lambda line: None,
        secret_env: Sequence[dict[str, str]] | None = None,
        require_python: bool = True,
        data_mounts: Sequence[list[tuple[str, str, str]]] | None = None,
    ) -> BuiltImage:
        """Build whatever layers are missing (or forced) and return the image; raises ImageBuildError.

        `secret_env[i]` (optional) is extra env for step i's build commands, from its secrets:
        it is not part of the layer identity and is not stored in the image. `data_mounts[i]`
        (optional) are the volumes / network file systems step i mounts ("volume" | "nfs", id,
        path), through `attach_data_mounts`; likewise not part of the identity.
        """
        self._check_chain(steps)
        state = _ChainState()
        forced = False
        secret_env = list(secret_env or [])
        for index, (step, lid) in enumerate(zip(steps, identity.layer_ids(steps)), start=1):
            forced = forced or step.force_build  # a rebuilt layer invalidates the ones above it
            record = None if forced else self.store.load(lid)
            if record is not None:
                self.store.touch(lid)
            if record is None:
                log(f"=> Step {index}/{len(steps)}: {step.kind} {_summary(step)}")
                extra = dict(secret_env[index - 1]) if secret_env and index - 1 < len(secret_env) else {}
                mounts = list(data_mounts[index - 1]) if data_mounts and index - 1 < len(data_mounts) else []
                if mounts:
                    self._data_mounts[lid] = mounts
                try:
                    record = await self._build_layer(step, lid, state, log, forced, extra)
                finally:
                    self._data_mounts.pop(lid, None)
            self._apply(state, record)
        if not state.python and require_python:  # a COPY --from source image needs none
            raise ImageBuildError(
                f"The image from {steps[0].kind} has no Python (no python3 in /usr/local/bin or "
                "/usr/bin); pass add_python='3.11' (or install Python in a build step)."
            )
        return self._result(steps, state)

    # -- internals -------------------------------------------------------------------------

    def _check_chain(self, steps: list[Step]) -> None:
        if not steps:
            raise ImageBuildError("An image needs at least one build step.")
        if steps[0].kind not in BASE_KINDS:
            raise ImageBuildError(
                f"An image must start with a base (Image.debian_slim(), Image.from_registry(), ...), "
                f"not with `{steps[0].kind}`."
            )
        for step in steps[1:]:
            if step.kind in BASE_KINDS:
                raise ImageBuildError(f"`{step.kind}` (a base image) can only be the first step of an image.")

    def _apply(self, state: _ChainState, record: LayerRecord) -> None:
        if record.dir is not None:
            state.layers.append(self.store.layer_path(record))
        state.env.update(record.env)
        if record.workdir:
            state.workdir = record.workdir
        if record.python_version:
            state.python_version = record.python_version
        if record.python is not None:
            state.python = record.python
        for key, value in record.meta.items():
            state.meta[key] = value

    def _result(self, steps: list[Step], state: _ChainState) -> BuiltImage:
        return BuiltImage(
            image_id=identity.image_id(steps),
            layers=list(state.layers),
            env=dict(state.env),
            workdir=state.workdir,
            python=state.python or "/usr/bin/python3",
            python_version=state.python_version,
            entrypoint=state.meta.get("entrypoint"),
            cmd=state.meta.get("cmd"),
            shell=state.meta.get("shell"),
            user=state.meta.get("user"),
            labels=dict(state.meta.get("labels") or {}),
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
            if step.kind == "from_registry":
                return await self._pull_base(step, lid, log, extra_env)
            if step.kind == "copy_from_image":
                return await self._copy_from_image(step, lid, state, log, extra_env)
            if step.kind == "host_rootfs":
                from nodal.images.host_rootfs import host_rootfs_layer

                return self.store.commit(await host_rootfs_layer(step, lid, log))
            plan = plan_step(step, state.python or "/usr/bin/python3", state.meta.get("shell"))
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
                meta=_merge_meta(state.meta, plan.meta),
                python=plan.python,
                python_version=_added_python_version(step, plan),
                build_seconds=round(time.monotonic() - started, 3),
            )
            try:
                return self.store.commit(record, built)
            except BaseException:
                if built is not None:
                    shutil.rmtree(built, ignore_errors=True)
                raise

    async def _copy_from_image(
        self, step: Step, lid: str, state: _ChainState, log: BuildLog, extra_env: dict[str, str]
    ) -> LayerRecord:
        """COPY --from: build the source image, export its files in a throwaway container of it,
        import them in a build container of this image (that container's writes are the layer)."""
        from nodal.images.stage_copy import OUT, export_script, import_script

        spec = step.spec
        chain, sources, dest = spec.get("stage"), spec.get("sources"), spec.get("dest")
        chown = spec.get("chown", "")
        if (not isinstance(chain, list) or not chain or not all(
                isinstance(d, dict) and isinstance(d.get("kind"), str) and isinstance(d.get("spec"), dict)
                for d in chain)):
            raise ImageBuildError("COPY --from: `stage` must be a non-empty list of {kind, spec} steps")
        if not isinstance(sources, list) or not sources or not all(isinstance(x, str) and x for x in sources):
            raise ImageBuildError("COPY --from: `sources` must be a non-empty list of paths")
        if not isinstance(dest, str) or not dest.startswith("/") or not isinstance(chown, str):
            raise ImageBuildError("COPY --from: `dest` must be an absolute path (and chown a string)")
        started = time.monotonic()
        log(f"   building the source image of COPY --from ({len(chain)} step(s))")
        source = await self.build([Step(d["kind"], d["spec"]) for d in chain], log, require_python=False)
        out = self.root / "stage" / f"{lid[:16]}-{uuid.uuid4().hex[:8]}-out"
        out.mkdir(parents=True)
        try:
            spec_run = ContainerSpec(
                container_id=f"build-{lid[:12]}-{uuid.uuid4().hex[:8]}",
                layers=list(source.layers),
                command=["/bin/sh", "-c", export_script(sources, dest)],
                env={**DEFAULT_ENV, **source.env},
                binds=[Bind(out, OUT, read_only=False)],
                workdir=source.workdir or "/",
                hostname="modal-build",
            )
            self.scratch_root.mkdir(parents=True, exist_ok=True)
            container = await launch(spec_run, self.scratch_root, network=NetworkMode.HOST,
                                     stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            try:
                code = await _pump_and_wait(container, log)
            except BaseException:
                container.kill()
                await container.wait()
                raise
            finally:
                await container.cleanup()
            if code != 0:
                raise ImageBuildError(f"COPY --from: copying {sources} out of the source image failed "
                                      f"(exit code {code}); see the build log above.")
            plan = StepPlan(commands=[["/bin/sh", "-c", import_script(dest, chown)]])
            built = await self._run_in_build(step, lid, state, plan, log, extra_env, out)
        finally:
            await asyncio.to_thread(shutil.rmtree, out, True)
        record = LayerRecord(layer_id=lid, kind=step.kind, build_seconds=round(time.monotonic() - started, 3))
        try:
            return self.store.commit(record, built)
        except BaseException:
            shutil.rmtree(built, ignore_errors=True)
            raise

    async def _pull_base(self, step: Step, lid: str, log: BuildLog, extra_env: dict[str, str]) -> LayerRecord:
        """Pull the `from_registry` image into a new layer (all its layers flattened into one)."""
        from nodal.images import registry

        tag = step.spec.get("tag")
        what = f"Image.{step.spec.get('method') or 'from_registry'}({tag!r})"
        username, password = registry_credentials(step, extra_env, what)
        started = time.monotonic()
        built = self.store.new_build_dir(lid)
        built.chmod(0o755)
        try:
            config = await asyncio.to_thread(registry.pull, str(tag), built, log, username, password, what)
            python, version = _find_python(built, config.env.get("PATH", ""))
            meta = {k: v for k, v in (("entrypoint", config.entrypoint), ("cmd", config.cmd),
                                       ("user", config.user)) if v}
            if config.labels:
                meta["labels"] = config.labels
            record = LayerRecord(
                layer_id=lid,
                kind=step.kind,
                env=config.env,
                workdir=config.workdir or "/",
                python=python,
                python_version=version,
                meta=meta,
                build_seconds=round(time.monotonic() - started, 3),
            )
            log(f"Pulled {tag} in {record.build_seconds:.1f}s" + (f" (Python {version})" if version else ""))
            return self.store.commit(record, built)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, built, True)
            raise

    def _stage_files(self, plan: StepPlan, lid: str) -> Path:
        """A directory holding the step's files (hard links to blobs, named by index) and copy.sh."""
        stage = self.root / "stage" / f"{lid[:16]}-{uuid.uuid4().hex[:8]}"
        stage.mkdir(parents=True)
        try:
            if plan.payload is not None:
                (stage / "payload.pkl").write_bytes(plan.payload)
            for index, (dest, sha, _mode) in enumerate(plan.files):
                blob = self.blobs_dir / sha[:2] / sha
                if not blob.is_file() and self.fetch_blob is not None:
                    with contextlib.suppress(KeyError):
                        blob = self.fetch_blob(sha)
                if not blob.is_file():
                    raise ImageBuildError(f"Image copy step: the content of {dest} ({sha[:12]}) was not uploaded.")
                try:
                    os.link(blob, stage / str(index))
                except OSError:
                    shutil.copyfile(blob, stage / str(index))
            if plan.files:
                (stage / "copy.sh").write_text(copy_script(plan.files, plan.chown))
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        return stage

    def _build_binds(
        self, plan: StepPlan, stage: Path | None = None, python_version: str = ""
    ) -> tuple[list[Bind], dict[str, str]]:
        binds: list[Bind] = []
        env: dict[str, str] = {}
        if plan.needs_sdk:
            from nodal.runtime.sdk_site import sdk_binds

            binds += sdk_binds(python_version or None)
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
        stage = await asyncio.to_thread(self._stage_files, plan, lid) if plan.files or plan.payload else None
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
        binds, tool_env = await asyncio.to_thread(self._build_binds, plan, stage, state.python_version)
        env = {**DEFAULT_ENV, **state.env, **extra_env, **plan.env, **tool_env}
        user = state.meta.get("user")
        gpu_owner = f"build-{lid[:12]}-{uuid.uuid4().hex[:8]}"
        finish_mounts = None
        try:
            mounts = self._data_mounts.get(lid)
            if mounts:
                if self.attach_data_mounts is None:
                    raise ImageBuildError(f"Image.{step.kind}: this builder cannot mount volumes")
                mount_binds, finish_mounts = await self.attach_data_mounts(gpu_owner, mounts)
                binds = [*binds, *mount_binds]
            # A step's `gpu=` (canonical string in step.spec["gpu"], part of the layer identity):
            # its commands run with those GPUs, as a function's container would (nodal.runtime.gpus).
            if step.spec.get("gpu"):
                gpu_binds, gpu_env = await self._take_gpus(gpu_owner, str(step.spec["gpu"]), step, plan, env, log)
                binds, env = [*binds, *gpu_binds], {**env, **gpu_env}
            for argv in plan.commands:
                if user and user not in ("root", "0", "0:0") and step.kind == "run_commands":
                    argv = _as_user(user, argv)
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
                    code = await asyncio.wait_for(_pump_and_wait(container, log), plan.timeout)
                except TimeoutError:
                    container.kill()
                    await container.wait()
                    raise ImageBuildError(
                        f"Image build step {step.kind} timed out after {plan.timeout:g}s."
                    ) from None
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
            if finish_mounts is not None:
                done, finish_mounts = finish_mounts, None
                await done(True)  # volumes commit what the step wrote to them
                for _kind, _id, path in mounts or []:  # their mount points are not part of the layer
                    await asyncio.to_thread(_drop_mountpoints, built, state.layers, path.lstrip("/"))
            if plan.needs_sdk:
                await asyncio.to_thread(_drop_mountpoints, built, state.layers, "opt/nodal/site")
            return built
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, built, True)
            raise
        finally:
            if finish_mounts is not None:
                await finish_mounts(False)
            if self.gpus is not None:
                self.gpus.release(gpu_owner)

    async def _take_gpus(
        self, owner: str, request: str, step: Step, plan: StepPlan, env: dict[str, str], log: BuildLog
    ) -> tuple[list, dict[str, str]]:
        """GPUs for a build step: waits (up to the step's timeout) while they are busy; with none
        of that type on this server, builds without (fallback "cpu", with a warning in the build
        log) or fails (fallback "queue")."""
        from nodal.runtime.gpus import GpuFit, container_gpu_setup

        gpus = self.gpus
        fit = gpus.fit(request) if gpus is not None else GpuFit.NEVER
        if fit is GpuFit.NEVER:
            have = gpus.describe() if gpus is not None else "no GPUs"
            if self.gpu_fallback == "cpu":
                log(f"warning: Image.{step.kind}(gpu={request!r}): this server has {have}; building on CPU.")
                return [], {}
            raise ImageBuildError(
                f"Image.{step.kind}(gpu={request!r}): this server has {have}. Ask for a GPU type it has, "
                "or start it with NODAL_GPU_FALLBACK=cpu to build such steps without a GPU."
            )
        wait = plan.timeout or GPU_WAIT_SECONDS
        deadline = time.monotonic() + wait
        while gpus.fit(request) is not GpuFit.NOW:
            if time.monotonic() > deadline:
                raise ImageBuildError(f"Image.{step.kind}(gpu={request!r}): no GPU became free within {wait:g}s.")
            await asyncio.sleep(0.25)  # GPUs free when containers end; a build step is not latency-bound
        binds, gpu_env = container_gpu_setup(gpus.allocate(owner, request), env)
        log(f"   with GPU {request} ({gpus.describe()})")
        return binds, gpu_env


async def _pump_and_wait(container, log: BuildLog) -> int:
    await pump_lines(container.process.stdout, log)
    return await container.wait()


def _drop_mountpoints(built: Path, lower: list[Path], rel: str) -> None:
    """Remove the (empty) bind mountpoints the runtime created in the new layer for `rel`.

    Parents are removed too while they are empty and no lower layer has them.
    """
    path = built / rel
    while path != built:
        relpath = path.relative_to(built)
        if any((layer / relpath).exists() for layer in lower):
            break
        try:
            if path.is_dir() and not path.is_symlink():
                if any(path.iterdir()):
                    if path == built / rel:
                        shutil.rmtree(path)
                    else:
                        break
                else:
                    path.rmdir()
        except OSError:
            break
        path = path.parent


def _as_user(user: str, argv: list[str]) -> list[str]:
    """`argv` run as `user` ("name", "uid" or "uid:gid"), for steps after a Dockerfile USER."""
    name, _, group = user.partition(":")
    gid = group or '$(id -g "$0")'
    script = f'exec setpriv --reuid="$0" --regid="{gid}" --init-groups -- "$@"' if not group else (
        f'exec setpriv --reuid="$0" --regid="{gid}" --clear-groups -- "$@"'
    )
    return ["/bin/sh", "-c", script, name, *argv]


def _merge_meta(current: dict, new: dict) -> dict:
    """What a step records: only the settings it changes (labels accumulate)."""
    if "labels" in new:
        return {**new, "labels": {**(current.get("labels") or {}), **new["labels"]}}
    return dict(new)


def _added_python_version(step: Step, plan: StepPlan) -> str | None:
    if plan.python is None:
        return None
    if step.kind == "micromamba_install":
        for pkg in step.spec.get("packages", []):
            version = str(pkg).partition("=")[2].lstrip("=")
            if str(pkg).startswith("python=") and version:
                return ".".join(version.split(".")[:2])
        return None
    return str(step.spec.get("python_version"))


def _find_python(root: Path, path_env: str = "") -> tuple[str, str]:
    """The pulled image's python3 (path inside the image) and its major.minor; ("", "") if none.

    Looks in the image's PATH (its config's, e.g. /opt/conda/bin) and then /usr/local/bin,
    /usr/bin; the version comes from the lib/python3.X directory beside that bin directory.
    """
    dirs = [d.strip("/") for d in path_env.split(":") if d.startswith("/")] + ["usr/local/bin", "usr/bin"]
    for bindir in dict.fromkeys(dirs):
        binary = root / bindir / "python3"
        if not (binary.is_symlink() or binary.exists()):
            continue
        prefix = root / bindir / ".."
        versions = sorted(
            (p.name[len("python"):] for p in (prefix / "lib").glob("python3.*") if p.is_dir()),
            key=lambda v: tuple(int(x) for x in v.split(".") if x.isdigit()),
        )
        return "/" + bindir + "/python3", versions[-1] if versions else ""
    return "", ""


def registry_credentials(step: Step, env: dict[str, str], what: str) -> tuple[str | None, str | None]:
    """Registry credentials from the step's secret: REGISTRY_USERNAME/PASSWORD, or the cloud's."""
    method = step.spec.get("method") or "from_registry"
    if method == "from_gcp_artifact_registry":
        key = env.get("SERVICE_ACCOUNT_JSON")
        if not key:
            raise ImageBuildError(f"{what}: the secret must hold SERVICE_ACCOUNT_JSON (a service account key).")
        return "_json_key", key  # GCP registries accept the key itself as a basic-auth password
    if method == "from_aws_ecr":
        from nodal.images.ecr import ecr_credentials

        return ecr_credentials(str(step.spec.get("tag")), env, what)
    username, password = env.get("REGISTRY_USERNAME"), env.get("REGISTRY_PASSWORD")
    if (username is None) != (password is None):
        raise ImageBuildError(f"{what}: the secret must hold both REGISTRY_USERNAME and REGISTRY_PASSWORD.")
    return username, password


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
    if step.kind == "run_function":
        return str(spec.get("function", ""))
    if step.kind == "copy_from_image":
        return f"{' '.join(map(str, spec.get('sources') or []))} -> {spec.get('dest')}"
    if step.kind == "from_registry":
        return str(spec.get("tag", ""))
    if step.kind == "copy_files":
        files = spec.get("files")
        return f"{len(files)} file(s)" if isinstance(files, list) else ""
    return str(spec)
