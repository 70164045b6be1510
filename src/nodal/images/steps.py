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

BASE_KINDS = ("debian_slim", "from_registry", "host_rootfs")  # host_rootfs: nodal.ext.host_image
BUILD_KINDS = (
    "pip_install", "apt_install", "run_commands", "copy_files", "add_python", "run_function",
    "uv_sync", "poetry_install", "pip_install_private_repos", "micromamba_install", "copy_from_image",
)
METADATA_KINDS = ("env", "workdir", "entrypoint", "cmd", "shell", "user", "labels")
ALL_KINDS = (*BASE_KINDS, *BUILD_KINDS, *METADATA_KINDS)
DEFAULT_SHELL = ["/bin/sh", "-c"]


@dataclass
class StepPlan:
    """How to carry out one step: commands to run (argv each), and metadata it sets."""

    commands: list[list[str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # extra env for the build commands only
    image_env: dict[str, str] = field(default_factory=dict)  # env the step adds to the image
    workdir: str | None = None
    needs_uv: bool = False
    files: list[tuple[str, str, int]] = field(default_factory=list)  # copy_files: (dest, sha256, mode)
    chown: str = ""  # copy_files: owner of the copied files (COPY --chown)
    meta: dict = field(default_factory=dict)  # entrypoint/cmd/shell/user/labels the step sets
    payload: bytes | None = None  # run_function: the pickled (function, args, kwargs), staged as a file
    needs_sdk: bool = False  # the SDK site (cloudpickle, modal) must be visible at /opt/nodal/site
    timeout: float | None = None  # seconds the step's commands may run
    python: str | None = None  # the interpreter the step installs (add_python)


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


def copy_script(files: list[tuple[str, str, int]], chown: str = "") -> str:
    """The shell script that installs staged file `i` at its destination (parents created as needed).

    `chown` ("user[:group]", Dockerfile COPY --chown) owns the copied files.
    """
    lines = ["set -e"]
    for index, (dest, _sha, mode) in enumerate(files):
        lines.append(f"install -D -m {mode:o} {FILES_DIR}/{index} {shlex.quote(dest)}")
    if chown:
        targets = " ".join(shlex.quote(dest) for dest, _sha, _mode in files)
        lines.append(f"chown {shlex.quote(chown)} {targets}")
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


def _argv(step: Step, key: str, allow_empty: bool = True) -> list[str]:
    value = step.spec.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (
        not value and not allow_empty
    ):
        raise ImageBuildError(f"Image.{step.kind}: `{key}` must be a list of strings, got {value!r}")
    return list(value)


def _metadata_plan(step: Step) -> StepPlan:
    kind = step.kind
    if kind in ("entrypoint", "cmd"):
        return StepPlan(meta={kind: _argv(step, "args")})
    if kind == "shell":
        return StepPlan(meta={"shell": _argv(step, "args", allow_empty=False)})
    if kind == "user":
        user = step.spec.get("user")
        if not isinstance(user, str) or not user or any(c.isspace() for c in user):
            raise ImageBuildError(f"Image USER: the user must be a name or uid[:gid], got {user!r}")
        return StepPlan(meta={"user": user})
    labels = step.spec.get("labels")
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise ImageBuildError(f"Image LABEL: labels must map str to str, got {labels!r}")
    return StepPlan(meta={"labels": dict(labels)})


# uv installs a standalone CPython here for add_python; /usr/local/bin/python3 points at it.
ADDED_PYTHON_DIR = "/usr/local/nodal-python"


def _add_python_plan(step: Step) -> StepPlan:
    version = step.spec.get("python_version")
    if not isinstance(version, str) or not version.replace(".", "").isdigit():
        raise ImageBuildError(f"Image add_python: python_version must look like '3.11', got {version!r}")
    script = (
        f"{UV_PATH} python install --install-dir {ADDED_PYTHON_DIR} {shlex.quote(version)} || {{ "
        f"echo 'add_python={version}: could not download a standalone Python {version} "
        "(uv fetches python-build-standalone from GitHub; set UV_PYTHON_INSTALL_MIRROR on the "
        "server to a reachable mirror, or use an image that has Python)' >&2; exit 1; }\n"
        f"py=$(ls -d {ADDED_PYTHON_DIR}/cpython-*/bin/python3 | head -n1)\n"
        'mkdir -p /usr/local/bin && ln -sf "$py" /usr/local/bin/python3 && ln -sf "$py" /usr/local/bin/python\n'
        '"$py" -m ensurepip >/dev/null 2>&1 || true\n'
    )
    return StepPlan(
        commands=[["/bin/sh", "-c", script]],
        needs_uv=True,
        env={"UV_CACHE_DIR": UV_CACHE, "UV_NO_PROGRESS": "1", "UV_HTTP_TIMEOUT": "20"},
        python="/usr/local/bin/python3",
    )


PAYLOAD_FILE = f"{FILES_DIR}/payload.pkl"
# Runs in the build container: unpickle (fn, args, kwargs) with the SDK on sys.path, call it.
RUN_FUNCTION_SCRIPT = (
    "import sys; sys.path.append('/opt/nodal/site'); import pickle\n"
    f"with open({PAYLOAD_FILE!r}, 'rb') as f:\n"
    "    fn, args, kwargs = pickle.load(f)\n"
    "print(f'Running {getattr(fn, \"__qualname__\", fn)}() in the build container', flush=True)\n"
    "fn(*args, **kwargs)\n"
)
MAX_PAYLOAD = 16 << 20


def _run_function_plan(step: Step, python: str) -> StepPlan:
    import base64
    import binascii

    encoded = step.spec.get("_payload")
    if not isinstance(encoded, str):
        raise ImageBuildError("Image.run_function: the step carries no pickled function (`_payload`).")
    try:
        payload = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ImageBuildError("Image.run_function: the pickled function is not valid base64.") from None
    if len(payload) > MAX_PAYLOAD:
        raise ImageBuildError(f"Image.run_function: the pickled function is {len(payload)} bytes "
                              f"(at most {MAX_PAYLOAD}); avoid capturing large globals.")
    timeout = step.spec.get("timeout")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ImageBuildError(f"Image.run_function: timeout must be a positive number, got {timeout!r}")
    return StepPlan(
        commands=[[python, "-c", RUN_FUNCTION_SCRIPT]],
        env={"PYTHONUNBUFFERED": "1", "MODAL_IS_REMOTE": "1", "MODAL_IMAGE_BUILD": "1"},
        payload=payload,
        needs_sdk=True,
        timeout=float(timeout) if timeout else None,
    )


UV_ENV = {"UV_CACHE_DIR": UV_CACHE, "UV_LINK_MODE": "copy", "UV_NO_PROGRESS": "1"}


def _opt_strings(step: Step, key: str) -> list[str]:
    return _strings(step, key) if key in step.spec else []


def _project_dir(step: Step) -> str:
    path = step.spec.get("project_dir")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ImageBuildError(f"Image.{step.kind}: `project_dir` must be an absolute path, got {path!r}")
    return path


def _uv_sync_plan(step: Step, python: str) -> StepPlan:
    """uv export (the lock, frozen unless told) then uv pip install into the image's Python."""
    project = _project_dir(step)
    export = [UV_PATH, "export", "--no-hashes", "--no-emit-project", "--no-header", "--directory", project,
              "-o", f"{BUILD_TOOLS_DIR}/requirements.txt", "--python", python]
    export.append("--frozen" if step.spec.get("frozen", True) else "--locked")
    for group in _opt_strings(step, "groups"):
        export += ["--group", group]
    for extra in _opt_strings(step, "extras"):
        export += ["--extra", extra]
    install = [UV_PATH, "pip", "install", "--system", "--break-system-packages", "--compile-bytecode",
               "--python", python, "-r", f"{BUILD_TOOLS_DIR}/requirements.txt"]
    if step.spec.get("extra_options"):
        install += shlex.split(str(step.spec["extra_options"]))
    return StepPlan(commands=[export, install], needs_uv=True, env=dict(UV_ENV))


def _poetry_plan(step: Step, python: str) -> StepPlan:
    """Poetry (in a throwaway venv under the build tools dir) exports the lock; uv installs it."""
    project = _project_dir(step)
    venv = f"{BUILD_TOOLS_DIR}/poetry"
    export = f"{venv}/bin/poetry export -f requirements.txt --without-hashes -o {BUILD_TOOLS_DIR}/requirements.txt"
    for flag, key in (("--with", "with_"), ("--without", "without"), ("--only", "only")):
        groups = _opt_strings(step, key)
        if groups:
            export += f" {flag} " + shlex.quote(",".join(groups))
    lock = f"{venv}/bin/poetry lock && " if step.spec.get("ignore_lockfile") else ""
    script = (
        f"{UV_PATH} venv -q {venv} --python {shlex.quote(python)} && "
        f"{UV_PATH} pip install -q --python {venv}/bin/python poetry poetry-plugin-export && "
        f"cd {shlex.quote(project)} && {lock}{export} && "
        f"{UV_PATH} pip install --system --break-system-packages --compile-bytecode --python {shlex.quote(python)} "
        f"-r {BUILD_TOOLS_DIR}/requirements.txt"
    )
    env = {**UV_ENV, "POETRY_VIRTUALENVS_CREATE": "false", "POETRY_CACHE_DIR": f"{BUILD_TOOLS_DIR}/poetry-cache",
           "POETRY_NO_INTERACTION": "1"}
    return StepPlan(commands=[["/bin/sh", "-c", script]], needs_uv=True, env=env)


def _private_repos_plan(step: Step, python: str) -> StepPlan:
    """pip install git+https URLs whose credentials come from the step's secrets at build time."""
    user = step.spec.get("git_user")
    if not isinstance(user, str) or not user:
        raise ImageBuildError("Image.pip_install_private_repos: git_user must be a non-empty string")
    urls = []
    for repo in _strings(step, "repositories"):
        host = repo.split("/", 1)[0]
        token = {"github.com": "GITHUB_TOKEN", "gitlab.com": "GITLAB_TOKEN"}.get(host)
        if token is None:
            raise ImageBuildError(f"Image.pip_install_private_repos: {repo!r} is not on github.com or gitlab.com")
        path, _, frag = repo[len(host) + 1:].partition("#")
        name, _, ref = path.partition("@")
        url = f'"git+https://{user}:${{{token}}}@{host}/{name}.git' + (f"@{ref}" if ref else "")
        url += (f"#{frag}" if frag else "") + '"'
        urls.append(url)
    from nodal.images.builder import Step as PipStep

    pip_step = PipStep("pip_install", {**step.spec, "packages": []})
    pip = " ".join(shlex.quote(a) for a in _pip_command(pip_step, python))
    script = (
        'command -v git >/dev/null || { echo "pip_install_private_repos needs git in the image: add '
        '.apt_install(\"git\") before it" >&2; exit 1; }\n'
        f"{pip} {' '.join(urls)}\n"
    )
    return StepPlan(commands=[["/bin/sh", "-c", script]], needs_uv=True, env=dict(UV_ENV))


MAMBA_ROOT = "/opt/conda"


def _micromamba_plan(step: Step) -> StepPlan:
    packages = _strings(step, "packages")
    channels = _opt_strings(step, "channels")
    cmd = "micromamba install -y -n base " + " ".join(f"-c {shlex.quote(c)}" for c in channels)
    if step.spec.get("spec_file_dest"):
        cmd += f" -f {shlex.quote(str(step.spec['spec_file_dest']))}"
    cmd += " " + " ".join(shlex.quote(p) for p in packages)
    script = (
        'command -v micromamba >/dev/null || { echo "micromamba_install needs micromamba in the image: '
        'start from Image.micromamba()" >&2; exit 1; }\n'
        f"{cmd} || {{ echo 'micromamba_install failed: are the conda channels reachable from this server?' >&2; "
        "exit 1; }\nmicromamba clean --all --yes >/dev/null 2>&1 || true\n"
    )
    has_python = any(p == "python" or p.startswith(("python=", "python>", "python<")) for p in packages)
    return StepPlan(
        commands=[["/bin/sh", "-c", script]],
        env={"MAMBA_ROOT_PREFIX": MAMBA_ROOT},
        python=f"{MAMBA_ROOT}/bin/python3" if has_python else None,
    )


def plan_step(step: Step, python: str, shell: list[str] | None = None) -> StepPlan:
    """Validate `step` and say what to run for it.

    `python` is the image's interpreter, `shell` the shell `run_commands` use (SHELL).
    """
    kind = step.kind
    if kind in ("entrypoint", "cmd", "shell", "user", "labels"):
        return _metadata_plan(step)
    if kind == "add_python":
        return _add_python_plan(step)
    if kind == "run_function":
        return _run_function_plan(step, python)
    if kind == "uv_sync":
        return _uv_sync_plan(step, python)
    if kind == "poetry_install":
        return _poetry_plan(step, python)
    if kind == "pip_install_private_repos":
        return _private_repos_plan(step, python)
    if kind == "micromamba_install":
        return _micromamba_plan(step)
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
        prefix = list(shell or DEFAULT_SHELL)
        build_env = step.spec.get("build_env", {})  # Dockerfile ARG values: env of these commands only
        if not isinstance(build_env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in build_env.items()
        ):
            raise ImageBuildError(f"Image.run_commands: `build_env` must map str to str, got {build_env!r}")
        return StepPlan(commands=[[*prefix, c] for c in _strings(step, "commands")], env=dict(build_env))
    if kind == "copy_files":
        files = _copy_files(step)
        if not files:
            return StepPlan()
        chown = step.spec.get("chown", "")
        if not isinstance(chown, str) or any(c.isspace() for c in chown):
            raise ImageBuildError(f"Image copy step: chown must be 'user[:group]', got {chown!r}")
        return StepPlan(commands=[["/bin/sh", f"{FILES_DIR}/copy.sh"]], files=files, chown=chown)
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
