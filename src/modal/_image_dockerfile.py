"""Dockerfile instructions as `modal.Image` build steps (`dockerfile_commands`, `from_dockerfile`).

Parsing and Docker's variable expansion are `nodal.images.dockerfile` (pure text handling);
this module decides what each instruction becomes in the image's chain: RUN a run_commands
step, COPY / ADD copy=True local files read from the build context (or a `StageCopy` for
`COPY --from`), ENV / WORKDIR / SHELL the matching `Image` method, and so on. A multi-stage
Dockerfile becomes one image per stage; the last one is the result.
"""

from __future__ import annotations

import posixpath
import shlex
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modal._image_specs import _flatten, _force_build_default, _ignore, _invalid
from nodal.images import dockerfile
from nodal.images.builder import Step
from nodal.images.local_files import FilePatternMatcher, IgnoreSpec, LocalFiles

if TYPE_CHECKING:
    from modal.image import Image

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
# ADD/COPY/RUN... warnings name the user's call: warn <- apply <- the module function <- Image method <- ...
_WARN_STACKLEVEL = 5


@dataclass(frozen=True)
class StageCopy:
    """`COPY --from=<stage or image>`: files of another image (built first) copied into this one."""

    stage: Image
    sources: tuple[str, ...]
    dest: str
    chown: str
    label: str

    def step(self) -> Step:
        chain = [{"kind": s.kind, "spec": s.spec} for s in self.stage._steps()]
        spec: dict[str, Any] = {"stage": chain, "sources": list(self.sources), "dest": self.dest}
        if self.chown:
            spec["chown"] = self.chown
        return Step("copy_from_image", spec, _force_build_default())


def dockerignore(context: Path, ignore: Any, method: str) -> Callable[[Path], bool] | None:
    """`ignore` as a predicate; by default the context directory's `.dockerignore`, if any."""
    if ignore is None:
        auto = context / ".dockerignore"
        return FilePatternMatcher.from_file(auto) if auto.is_file() else None
    return _ignore(method, ignore)


def dockerfile_commands(
    image: Image,
    commands: Sequence[str | list[str]],
    *,
    context_files: dict[str, str],
    secrets: Sequence[Any],
    gpu: Any,
    context_mount: Any,
    force_build: bool,
    ignore: IgnoreSpec | None,
) -> Image:
    """`image` extended with Dockerfile instructions; COPY reads from the current directory."""
    if context_files or context_mount is not None:
        raise _invalid("Image.dockerfile_commands: context_files and context_mount are not supported; "
                       "COPY reads from the current directory (use Image.add_local_* for other files)")
    text = "\n".join(_flatten("dockerfile_commands", commands, "commands"))
    instructions = _parse(text, "Image.dockerfile_commands")
    context = Path.cwd()
    return apply_instructions(
        image, instructions, "dockerfile_commands", context, dockerignore(context, ignore, "dockerfile_commands"),
        secrets=secrets, gpu=gpu, force_build=force_build, expand=dockerfile.Expander(),
    )


def from_dockerfile(
    path: str | Path,
    *,
    context_mount: Any,
    force_build: bool,
    secrets: Sequence[Any],
    gpu: Any,
    add_python: str | None,
    ignore: IgnoreSpec | None,
    context_dir: str | Path | None,
    build_args: dict[str, str],
) -> Image:
    """The image a local Dockerfile describes: its last stage, each FROM pulled from a registry."""
    from modal.image import Image  # here, not at the top: modal.image imports this module

    if context_mount is not None:
        raise _invalid("Image.from_dockerfile: context_mount is not supported; pass context_dir= instead")
    if not isinstance(build_args, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in build_args.items()
    ):
        raise _invalid("Image.from_dockerfile: build_args must map str to str")
    file = Path(path).expanduser()
    try:
        text = file.read_text()
    except OSError as exc:
        raise _invalid(f"Image.from_dockerfile: cannot read the Dockerfile {str(file)!r}: {exc}") from None
    where = f"Image.from_dockerfile({str(file)!r})"
    instructions = _parse(text, where)
    expand = dockerfile.Expander()
    head = 0
    while head < len(instructions) and instructions[head].name == "ARG":
        key, default = dockerfile.arg(instructions[head])
        value = build_args.get(key, default)
        if value is not None:
            expand.values[key] = value
        head += 1
    if head >= len(instructions) or instructions[head].name != "FROM":
        raise _invalid(f"{where}: the Dockerfile must start with FROM (after optional ARGs)")
    context = Path(context_dir).expanduser() if context_dir is not None else Path.cwd()
    check = dockerignore(context, ignore, "from_dockerfile")
    # stages: each FROM starts one; the last is the image (earlier ones feed COPY --from)
    starts = [i for i in range(head, len(instructions)) if instructions[i].name == "FROM"]
    stages: dict[str, Image] = {}
    image: Image | None = None
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(instructions)
        last = number == len(starts) - 1
        try:
            base, name = dockerfile.from_image(instructions[start], expand)
        except dockerfile.DockerfileError as exc:
            raise _invalid(f"{where}: {exc}") from None
        if base.lower() in stages:
            image = stages[base.lower()]  # FROM <earlier stage>
        elif base == "scratch":
            raise _invalid(f"{where}: line {instructions[start].line}: FROM scratch is not supported "
                           "(there is no empty base image here); start from an image")
        else:
            image = Image.from_registry(base, force_build=force_build, add_python=add_python if last else None)
        image = apply_instructions(
            image, instructions[start + 1 : end], "from_dockerfile", context, check,
            secrets=secrets, gpu=gpu, force_build=force_build,
            expand=dockerfile.Expander(),  # ARGs before FROM are not in scope after it (as in Docker)
            build_args=build_args, stages=stages,
        )
        stages[str(number)] = image
        if name:
            stages[name.lower()] = image
    assert image is not None
    return image


def _parse(text: str, where: str) -> list[dockerfile.Instruction]:
    """The Dockerfile's instructions; a syntax error is an InvalidError that starts with `where`."""
    try:
        return dockerfile.parse(text)
    except dockerfile.DockerfileError as exc:
        raise _invalid(f"{where}: {exc}") from None


def apply_instructions(
    image: Image,
    instructions: list[Any],
    method: str,
    context: Path,
    check: Callable[[Path], bool] | None,
    *,
    secrets: Sequence[Any],
    gpu: Any,
    force_build: bool,
    expand: Any,
    build_args: dict[str, str] | None = None,
    stages: dict[str, Image] | None = None,
) -> Image:
    """Turn parsed Dockerfile instructions into build steps on top of `image`.

    `stages` names the earlier stages of a multi-stage Dockerfile (by AS name and index),
    for `COPY --from`.
    """
    args: dict[str, str] = {}  # ARG values in scope (RUN sees them as env vars)
    for inst in instructions:
        where = f"Image.{method}: line {inst.line}: `{inst}`"
        name = inst.name
        try:
            if name == "RUN":
                form = dockerfile.exec_form(inst)
                command = shlex.join(form) if form is not None else inst.args
                if inst.args.startswith("--"):
                    raise _invalid(f"{where}: RUN flags (--mount, --network, ...) are not supported")
                image = _run(image, command, secrets, gpu, force_build, dict(args), "dockerfile_commands")
            elif name == "ENV":
                pairs = dockerfile.key_values(inst, expand)
                expand.values.update(pairs)
                image = image.env(pairs)
            elif name == "ARG":
                key, default = dockerfile.arg(inst)
                value = (build_args or {}).get(key, default)
                if value is not None:
                    args[key] = expand.values[key] = expand(value)
            elif name == "WORKDIR":
                image = image.workdir(expand(inst.args))
            elif name in ("COPY", "ADD"):
                image = _copy(image, inst, expand, context, check, where, stages)
            elif name == "USER":
                image = image._extend("user", {"user": expand(inst.args).strip()})
            elif name in ("ENTRYPOINT", "CMD"):
                image = image._extend(name.lower(), {"args": dockerfile.shell_or_exec(inst)})
            elif name == "SHELL":
                form = dockerfile.exec_form(inst)
                if not form:
                    raise _invalid(f"{where}: SHELL needs the JSON form, e.g. SHELL [\"/bin/bash\", \"-c\"]")
                image = image.shell(form)
            elif name == "LABEL":
                image = image._extend("labels", {"labels": dockerfile.key_values(inst, expand)})
            elif name in ("EXPOSE", "VOLUME", "HEALTHCHECK", "STOPSIGNAL", "MAINTAINER"):
                warnings.warn(
                    f"{where}: {name} has no effect on Nodal and is ignored"
                    + (" (use @app.function web endpoints / modal.forward for ports)" if name == "EXPOSE" else ""),
                    stacklevel=_WARN_STACKLEVEL,
                )
            elif name == "FROM":
                raise _invalid(
                    f"{where}: FROM belongs in a Dockerfile given to Image.from_dockerfile (multi-stage "
                    "builds work there); in dockerfile_commands start the chain with Image.from_registry()"
                )
            else:
                raise _invalid(
                    f"{where}: `{name}` is not supported (supported: RUN, COPY, ADD, ENV, ARG, WORKDIR, "
                    "USER, ENTRYPOINT, CMD, SHELL, LABEL; ignored: EXPOSE, VOLUME, HEALTHCHECK, STOPSIGNAL)"
                )
        except dockerfile.DockerfileError as exc:
            raise _invalid(f"Image.{method}: {exc}") from None
    return image


def _copy(
    image: Image, inst: Any, expand: Any, context: Path, check: Callable[[Path], bool] | None, where: str,
    stages: dict[str, Image] | None = None,
) -> Image:
    """COPY / ADD: local sources from the context, http(s) URLs and archives (ADD), or another stage."""
    form = dockerfile.exec_form(inst)
    try:
        parts = form if form is not None else shlex.split(inst.args)
    except ValueError as exc:
        raise _invalid(f"{where}: {exc}") from None
    parts = [expand(p) for p in parts]
    chown = chmod = from_image = ""
    while parts and parts[0].startswith("--"):
        flag, _, value = parts.pop(0).partition("=")
        if flag == "--from" and inst.name == "COPY" and value:
            from_image = value
        elif flag == "--chown" and value and " " not in value:
            chown = value
        elif flag == "--chmod" and value and all(c in "01234567" for c in value) and len(value) <= 4:
            chmod = value
        else:
            raise _invalid(f"{where}: unsupported flag {flag!r} (supported: --chown=user[:group], --chmod=755)")
    if len(parts) < 2:
        raise _invalid(f"{where}: unsupported {inst.name} (want: {inst.name} [--chown=..] [--chmod=..] src... dest)")
    sources = parts[:-1]
    dest = image._relative_remote(parts[-1])
    dest += "/" if parts[-1].endswith("/") and not dest.endswith("/") else ""
    label = f"dockerfile_commands({inst.name} {inst.args})"
    if from_image:
        if chmod:
            raise _invalid(f"{where}: --chmod with --from is not supported")
        stage = (stages or {}).get(from_image.lower())
        if stage is None:
            from modal.image import Image  # here, not at the top: modal.image imports this module

            stage = Image.from_registry(from_image)  # COPY --from=<image reference>
        return image._add_entry(StageCopy(stage, tuple(sources), dest, chown, label))
    if inst.name == "ADD":
        local_sources = []
        for src in sources:
            if "://" in src or src.startswith("git@"):
                if not src.startswith(("http://", "https://")):
                    raise _invalid(f"{where}: ADD from {src!r} is not supported (only http(s) URLs and local files)")
                image = _add_url(image, src, dest, chown, chmod)
            elif src.endswith(ARCHIVE_SUFFIXES):
                image = _add_archive(image, context / src, dest, chown, where)
            else:
                local_sources.append(src)
        if not local_sources:
            return image
        sources = local_sources
    return image._add_entry(
        LocalFiles("copy", "\0".join(sources), dest, True, check, label, str(context), chown, chmod)
    )


def _add_url(image: Image, url: str, dest: str, chown: str, chmod: str) -> Image:
    """ADD <url> <dest>: downloaded in a build step with the image's Python (not extracted)."""
    target = dest + posixpath.basename(url.split("?")[0]) if dest.endswith("/") else dest
    script = (
        "import os, sys, urllib.request\n"
        f"os.makedirs(os.path.dirname({target!r}) or '/', exist_ok=True)\n"
        f"urllib.request.urlretrieve({url!r}, {target!r})\n"
    )
    cmd = f"python3 -c {shlex.quote(script)}"
    cmd += f" && chmod {chmod or '600'} {shlex.quote(target)}"
    if chown:
        cmd += f" && chown {shlex.quote(chown)} {shlex.quote(target)}"
    return image.run_commands(cmd)


def _add_archive(image: Image, archive: Path, dest: str, chown: str, where: str) -> Image:
    """ADD <local archive> <dest>: copied in, extracted into dest with tar, the copy removed."""
    if not archive.is_file():
        raise _invalid(f"{where}: {str(archive)!r} not found in the build context")
    staged = f"/.nodal-add/{archive.name}"
    image = image.add_local_file(archive, staged, copy=True)
    cmd = f"mkdir -p {shlex.quote(dest)} && tar -xf {shlex.quote(staged)} -C {shlex.quote(dest)}"
    if chown:
        cmd += f" --no-same-owner && chown -R {shlex.quote(chown)} {shlex.quote(dest)}"
    return image.run_commands(cmd + " && rm -rf /.nodal-add")


def _run(
    image: Image, command: str, secrets: Sequence[Any], gpu: Any, force_build: bool, build_env: dict[str, str],
    method: str,
) -> Image:
    """RUN: one run_commands step; the ARG values in scope are its build-time environment."""
    spec: dict[str, Any] = {"commands": [command]}
    if build_env:
        spec["build_env"] = build_env
    return image._extend_checked("run_commands", spec, method, gpu, force_build, secrets)
