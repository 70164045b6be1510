"""What each build step kind does: validation plus the commands it runs.

A step either changes metadata only (`env`, `workdir`) or runs commands in a
build container whose writable layer becomes the step's layer. `debian_slim`
is special: its layer is the shared base root filesystem.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nodal.images.errors import ImageBuildError

if TYPE_CHECKING:
    from nodal.images.builder import Step

# Where the builder mounts its tools inside a build container (removed from the layer after).
BUILD_TOOLS_DIR = "/.nodal-build"
UV_PATH = f"{BUILD_TOOLS_DIR}/uv"
UV_CACHE = f"{BUILD_TOOLS_DIR}/uv-cache"
FILES_DIR = f"{BUILD_TOOLS_DIR}/files"  # copy_files: the files (named by index) and copy.sh

BUILD_KINDS = ("pip_install", "apt_install", "run_commands", "copy_files")
METADATA_KINDS = ("env", "workdir")
ALL_KINDS = ("debian_slim", *BUILD_KINDS, *METADATA_KINDS)


@dataclass
class StepPlan:
    """How to carry out one step: commands to run (argv each), and metadata it sets."""

    commands: list[list[str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # extra env for the build commands only
    image_env: dict[str, str] = field(default_factory=dict)  # env the step adds to the image
    workdir: str | None = None
    needs_uv: bool = False
    files: list[tuple[str, str, int]] = field(default_factory=list)  # copy_files: (dest, sha256, mode)


def _copy_files(step: Step) -> list[tuple[str, str, int]]:
    entries = step.spec.get("files")
    out: list[tuple[str, str, int]] = []
    if not isinstance(entries, list):
        raise ImageBuildError(f"Image copy step: `files` must be a list, got {entries!r}")
    for entry in entries:
        ok = isinstance(entry, list) and len(entry) == 3
        dest, sha, mode = entry if ok else ("", "", 0)
        if not (isinstance(dest, str) and dest.startswith("/") and isinstance(sha, str) and len(sha) == 64
                and isinstance(mode, int) and 0 <= mode <= 0o7777):
            raise ImageBuildError(f"Image copy step: bad file entry {entry!r} (want [abs path, sha256, mode])")
        out.append((dest, sha, mode))
    return out


def copy_script(files: list[tuple[str, str, int]]) -> str:
    """The shell script that installs staged file `i` at its destination (parents created as needed)."""
    lines = ["set -e"]
    for index, (dest, _sha, mode) in enumerate(files):
        lines.append(f"install -D -m {mode:o} {FILES_DIR}/{index} {shlex.quote(dest)}")
    return "\n".join(lines) + "\n"


def _strings(step: Step, key: str) -> list[str]:
    value = step.spec.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ImageBuildError(f"Image.{step.kind}: `{key}` must be a list of strings, got {value!r}")
    return value


def _pip_command(step: Step, python: str) -> list[str]:
    spec = step.spec
    cmd = [
        UV_PATH,
        "pip",
        "install",
        "--system",
        "--break-system-packages",
        "--compile-bytecode",
        "--python",
        python,
    ]
    for key, flag in (
        ("index_url", "--index-url"),
        ("extra_index_url", "--extra-index-url"),
        ("find_links", "--find-links"),
    ):
        if spec.get(key):
            cmd += [flag, str(spec[key])]
    if spec.get("pre"):
        cmd.append("--prerelease=allow")
    if spec.get("extra_options"):
        cmd += shlex.split(str(spec["extra_options"]))
    return cmd + _strings(step, "packages")


def plan_step(step: Step, python: str) -> StepPlan:
    """Validate `step` and say what to run for it (`python` is the image's interpreter)."""
    kind = step.kind
    if kind == "pip_install":
        if not _strings(step, "packages"):
            return StepPlan()
        return StepPlan(
            commands=[_pip_command(step, python)],
            needs_uv=True,
            env={"UV_CACHE_DIR": UV_CACHE, "UV_LINK_MODE": "copy", "UV_NO_PROGRESS": "1"},
        )
    if kind == "apt_install":
        packages = _strings(step, "packages")
        if not packages:
            return StepPlan()
        script = (
            "apt-get update && apt-get install -y "
            + " ".join(shlex.quote(p) for p in packages)
            + " && apt-get clean && rm -rf /var/lib/apt/lists/*"
        )
        return StepPlan(commands=[["/bin/sh", "-c", script]], env={"DEBIAN_FRONTEND": "noninteractive"})
    if kind == "run_commands":
        return StepPlan(commands=[["/bin/sh", "-c", c] for c in _strings(step, "commands")])
    if kind == "copy_files":
        files = _copy_files(step)
        if not files:
            return StepPlan()
        return StepPlan(commands=[["/bin/sh", f"{FILES_DIR}/copy.sh"]], files=files)
    if kind == "env":
        env = step.spec.get("vars", {})
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise ImageBuildError(f"Image.env: `vars` must be a dict of str to str, got {env!r}")
        return StepPlan(image_env=dict(env))
    if kind == "workdir":
        path = step.spec.get("path")
        if not isinstance(path, str) or not path:
            raise ImageBuildError(f"Image.workdir: the path must be a non-empty string, got {path!r}")
        return StepPlan(workdir=path)  # a relative path is resolved against the current workdir
    raise ImageBuildError(
        f"Image build step `{kind}` is not supported by this server (supported: {', '.join(ALL_KINDS)})."
    )
