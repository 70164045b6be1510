"""Turn a `ContainerSpec` into a running, isolated process tree.

How a container is made (all of it in a few milliseconds):

    unshare --mount [--net]        a private mount namespace (so the overlay mount dies
                                   with the container) and, for NAT, the network namespace
      sh -c SCRIPT                 joins the cgroup (if limits), mounts
                                   overlay(layers + private upper) on merged/
        exec bwrap --args FD       new pid/ipc/uts (and, for block_network, net) namespaces,
                                   merged/ as /, /proc, /dev, /sys (ro), private /tmp,
                                   binds, env, workdir, hostname, Docker's capability set
          init (pid 1, bwrap's reaper)  ->  the command

bwrap's own arguments (which carry env values, so possibly secrets) go through
a memfd (`--args`), never the host's process list. Per-container scratch lives
in `scratch_root/<container_id>/` (upper, work, merged) and is removed by
`cleanup()`. Networking: `NetworkMode.NONE` (loopback only),
`NetworkMode.NAT` (own namespace + slirp4netns, the default when installed)
or `NetworkMode.HOST` (the host's namespace: image builds).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import json
import logging
import os
import re
import shutil
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from nodal import paths
from nodal.runtime.backend import ContainerSpec
from nodal.runtime.cgroups import Cgroup, CgroupManager
from nodal.runtime.network import NAT_RESOLV_CONF, NatHandle, attach_nat, read_fd_until, slirp4netns_path

log = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_ENV = {"PATH": DEFAULT_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
# The environment of the host-side helpers (unshare, sh, mount, bwrap): nothing from the container.
HOST_ENV = {"PATH": DEFAULT_PATH, "LANG": "C.UTF-8"}
# Docker's default capability set: enough for apt, chown, setuid; no mount, no module loading.
DEFAULT_CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW")
DEFAULT_CAPS += ("CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE")
DEFAULT_CAPS += ("CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE")
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
LAUNCH_FAILED = 125  # exit code of the launcher itself failing (cgroup, overlay mount)

# $1 cgroup.procs files (space separated), $2 overlay options, $3 dir the lowerdirs are relative
# to, $4 mount point, $5 mount binary; the rest is the bwrap command line.
_SCRIPT = (
    "cg=$1 opts=$2 base=$3 merged=$4 mnt=$5 hostopts=$6 hostroot=$7; shift 7\n"
    'for f in $cg; do echo $$ > "$f" || exit 125; done\n'
    'if [ -n "$hostroot" ]; then "$mnt" -t overlay overlay -o "$hostopts" "$hostroot" || exit 125; fi\n'
    'cd "$base" && "$mnt" -t overlay overlay -o "$opts" "$merged" && cd / || exit 125\n'
    'exec "$@"\n'
)


class NetworkMode(enum.Enum):
    NONE = "none"  # own network namespace with only loopback (block_network=True)
    NAT = "nat"  # own namespace + slirp4netns outbound NAT, host loopback unreachable
    HOST = "host"  # the host's network namespace (build containers)


@functools.cache
def _tool(name: str) -> str:
    path = shutil.which(name, path=DEFAULT_PATH)
    if path is None:
        raise RuntimeError(f"`{name}` is required to run containers but is not installed")
    return path


def default_network(spec: ContainerSpec) -> NetworkMode:
    """NONE for block_network, else NAT when slirp4netns is installed, else the host's network."""
    if spec.block_network:
        return NetworkMode.NONE
    if slirp4netns_path() is not None:
        return NetworkMode.NAT
    log.warning("slirp4netns is not installed: containers share the host's network namespace")
    return NetworkMode.HOST


def container_env(spec: ContainerSpec) -> dict[str, str]:
    """Exactly `spec.env`, plus PATH/HOME/LANG defaults when it does not set them."""
    env = dict(DEFAULT_ENV)
    env.update(spec.env)
    return env


def _check_overlay_path(path: Path) -> str:
    text = str(path)
    if any(c in text for c in ",:\\\n"):
        raise ValueError(f"overlay layer paths may not contain ',', ':' or '\\': {text!r}")
    return text


def overlay_options(layers: list[Path], upper: Path, work: Path) -> tuple[str, str]:
    """(mount options, directory the lowerdirs are relative to); lowerdir lists the top layer first.

    Relative lowerdirs keep the option string short: it is limited to one page.
    """
    if not layers:
        raise ValueError("a container needs at least one image layer")
    absolute = [p.absolute() for p in layers]
    base = Path(os.path.commonpath([str(p) for p in absolute]))
    if any(str(p) == str(base) for p in absolute):
        base = base.parent
    lower = ":".join(_check_overlay_path(p.relative_to(base)) for p in reversed(absolute))
    opts = f"lowerdir={lower},upperdir={_check_overlay_path(upper)},workdir={_check_overlay_path(work)}"
    return opts, str(base)


def _host_root_view(layers: list[Path], scratch: Path) -> tuple[list[Path], str, str]:
    """(layers, overlay options, mount point) for images based on the host's own `/`
    (`nodal.ext.host_image`); the layers unchanged and two empty strings for the others.

    With other layers on top, the host's `/` is first mounted as an overlay of its own (a new
    file system) and that mount is the bottom layer: overlayfs refuses layers nested inside
    another layer, and every other layer directory lives somewhere under `/`. Alone, `/` is
    the lower layer itself (one overlay less on every file lookup)."""
    if Path("/") not in layers or layers == [Path("/")]:  # alone, "/" works as the only lower layer
        return layers, "", ""
    view = scratch / "hostroot"
    for name in ("upper", "work", "root"):
        (view / name).mkdir(parents=True)
    opts = f"lowerdir=/,upperdir={_check_overlay_path(view / 'upper')},workdir={_check_overlay_path(view / 'work')}"
    return [view / "root" if layer == Path("/") else layer for layer in layers], opts, str(view / "root")


def _write_etc(upper: Path, spec: ContainerSpec, network: NetworkMode) -> None:
    """Per-container /etc/hostname, /etc/hosts and /etc/resolv.conf, in the private upper layer."""
    etc = upper / "etc"
    etc.mkdir(mode=0o755)
    os.chmod(etc, 0o755)
    (etc / "hostname").write_text(spec.hostname + "\n")
    (etc / "hosts").write_text(
        f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{spec.hostname}\n"
    )
    if network is NetworkMode.NAT:
        resolv = NAT_RESOLV_CONF
    elif network is NetworkMode.HOST:
        try:
            resolv = Path("/etc/resolv.conf").read_text()
        except OSError:
            resolv = ""
    else:
        resolv = ""
    (etc / "resolv.conf").write_text(resolv)


def bwrap_args(
    spec: ContainerSpec, merged: Path, network: NetworkMode, info_fd: int, block_fd: int | None
) -> list[str]:
    """bubblewrap's options (fed through `--args`; the command itself must follow on the command line)."""
    args = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session"]
    if network is NetworkMode.NONE:  # (NAT: the launcher's `unshare --net` made the namespace)
        args.append("--unshare-net")
    if os.geteuid() == 0:
        args += ["--cap-drop", "ALL"]
        for cap in DEFAULT_CAPS:
            args += ["--cap-add", cap]
    args += ["--bind", str(merged), "/", "--proc", "/proc", "--dev", "/dev", "--ro-bind", "/sys", "/sys"]
    args += ["--perms", "1777", "--tmpfs", "/tmp"]
    if Path("/") in spec.layers:  # the host's own root: hide the server's state (owner socket, keys, tokens)
        args += ["--tmpfs", str(paths.nodal_home())]
    for bind in spec.binds:
        if bind.dest.startswith("/dev/"):  # device nodes (GPUs) need a bind that keeps them usable
            args += ["--dev-bind", str(bind.source), bind.dest]
        else:
            args += ["--ro-bind" if bind.read_only else "--bind", str(bind.source), bind.dest]
    args.append("--clearenv")
    for key, value in container_env(spec).items():
        args += ["--setenv", key, value]
    args += ["--hostname", spec.hostname, "--dir", spec.workdir, "--chdir", spec.workdir]
    args += ["--info-fd", str(info_fd)]
    if block_fd is not None:
        args += ["--block-fd", str(block_fd)]
    return args


def _args_memfd(args: list[str]) -> int:
    for arg in args:
        if "\0" in arg:
            raise ValueError("a container argument or environment value contains a NUL byte")  # never echo it
    fd = os.memfd_create("nodal-bwrap-args")
    os.write(fd, b"".join(a.encode() + b"\0" for a in args))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


@dataclass
class LaunchedContainer:
    """A started container: its launcher process, namespaces and scratch, until `cleanup()`."""

    container_id: str
    process: asyncio.subprocess.Process
    scratch: Path
    network: NetworkMode
    cgroup: Cgroup | None = None
    init_pid: int | None = None  # pid (host view) of the container's pid-1
    nat: NatHandle | None = None
    setup_error: str | None = None
    remove_after: list[Path] = field(default_factory=list)
    # Runs with the init pid once the NAT is up and before the command is released (routes, ...).
    on_network: Callable[[int], Awaitable[None]] | None = None
    _setup: asyncio.Task | None = None
    _cleaned: bool = False

    async def ready(self) -> int | None:
        """Wait until the namespaces exist (and the NAT is up); returns the init pid (None on failure)."""
        if self._setup is not None:
            await asyncio.shield(self._setup)
        return self.init_pid

    async def rooted(self, timeout: float = 10.0) -> int | None:
        """Like `ready()`, and also wait until pid-1 stands in the container's root.

        bwrap reports the child's pid before the child has mounted and entered its new
        root: entering its namespaces earlier (exec) would land in the launcher's view
        of the host. The overlay (seen through the launcher's own mount namespace) is on
        its own device: pid-1's root on that device tells the switch is done."""
        pid = await self.ready()
        if pid is None:
            return None
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                overlay_dev = os.stat(f"/proc/{self.process.pid}/root{self.scratch}/merged").st_dev
                if os.stat(f"/proc/{pid}/root/").st_dev == overlay_dev:
                    return pid
            except OSError:
                return None  # pid-1 is gone
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"container {self.container_id} did not enter its root in {timeout:g}s")
            await asyncio.sleep(0.001)  # bwrap sets up in a few ms; no event marks the moment

    async def _finish_setup(self, info_r: int, block_w: int | None) -> None:
        try:
            data = await read_fd_until(info_r, lambda d: b"}" in d, timeout=30.0)
            if data:
                self.init_pid = int(json.loads(data)["child-pid"])
                if self.network is NetworkMode.NAT:
                    self.nat = await attach_nat(self.init_pid)
                    if self.on_network is not None:
                        try:
                            await self.on_network(self.init_pid)
                        except Exception as e:  # fail closed: never release a command unrestricted
                            self.setup_error = f"network setup failed: {e}"
                            log.warning("container %s: %s", self.container_id, self.setup_error)
                            self.kill()
                            block_w_closed, block_w = block_w, None
                            if block_w_closed is not None:
                                os.close(block_w_closed)
                            return
        except (OSError, ValueError, KeyError, RuntimeError, TimeoutError) as e:  # runs on, maybe offline
            self.setup_error = f"{type(e).__name__}: {e}"
            log.warning("container %s: setup failed: %s", self.container_id, self.setup_error)
        finally:
            os.close(info_r)
            if block_w is not None:
                try:
                    os.write(block_w, b"1")
                except OSError:
                    pass
                os.close(block_w)

    def namespace_pids(self) -> list[int]:
        """Host pids of every process in the container's pid namespace, init first."""
        if self.init_pid is None:
            return []
        try:
            ns = os.readlink(f"/proc/{self.init_pid}/ns/pid")
        except OSError:
            return []
        pids = [self.init_pid]
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == self.init_pid:
                continue
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                    pids.append(int(entry))
            except OSError:
                continue
        return pids

    def signal(self, sig: int) -> None:
        """Send `sig` to every process of the container (pid-1, bwrap's reaper, ignores it)."""
        pids = self.namespace_pids()[1:]
        if not pids and self.init_pid is None and self.process.returncode is None:
            pids = [self.process.pid]  # not set up yet: the launcher takes the tree down with it
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL the whole container: killing its pid-1 kills every process in the namespace.

        The launcher process then reaps pid-1 and exits; it is killed itself only when the
        namespace is not known yet (or by `kill_launcher`), so pid-1 is never orphaned."""
        self._send(self.init_pid if self.init_pid else self.process.pid, signal.SIGKILL)

    def kill_launcher(self) -> None:
        self._send(self.process.pid, signal.SIGKILL)

    def _send(self, pid: int, sig: int) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    async def wait(self) -> int:
        """The exit code: the command's, or 128+N when it (or the container) died of signal N."""
        code = await self.process.wait()
        return 128 - code if code < 0 else code

    async def cleanup(self) -> None:
        """Release the NAT, the cgroup and the scratch directory (idempotent). Call after `wait()`."""
        if self._cleaned:
            return
        self._cleaned = True
        if self._setup is not None and not self._setup.done():
            self._setup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._setup
        paths = [self.scratch, *self.remove_after]
        jobs = [asyncio.to_thread(lambda: [shutil.rmtree(p, ignore_errors=True) for p in paths])]
        if self.nat is not None:
            jobs.append(self.nat.close())
        if self.cgroup is not None:
            jobs.append(self.cgroup.remove())
        await asyncio.gather(*jobs)


async def pump_lines(
    stream: asyncio.StreamReader, emit: Callable[[str], None], max_line: int = 64 * 1024
) -> None:
    """Call `emit` with each line of `stream` (no newline) until EOF; over-long lines are split."""
    pending = b""
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            if pending:
                emit(pending.decode(errors="replace"))
            return
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            emit(line.rstrip(b"\r").decode(errors="replace"))
        while len(pending) > max_line:
            emit(pending[:max_line].decode(errors="replace"))
            pending = pending[max_line:]


async def launch(
    spec: ContainerSpec,
    scratch_root: Path,
    *,
    network: NetworkMode | None = None,
    upper_dir: Path | None = None,
    cgroups: CgroupManager | None = None,
    stdin: int = asyncio.subprocess.DEVNULL,
    stdout: int = asyncio.subprocess.PIPE,
    stderr: int = asyncio.subprocess.PIPE,
    on_network: Callable[[int], Awaitable[None]] | None = None,
    pids_limit: int = 0,
) -> LaunchedContainer:
    """Start `spec`; returns as soon as the launcher process is spawned.

    `upper_dir` replaces the private, discarded upper layer with a persistent one
    (image builds write their new layer there). `cgroups` applies cpu/memory caps.
    On any error before the spawn, everything made so far is removed again.
    """
    if not _SAFE_ID.fullmatch(spec.container_id):
        raise ValueError(
            f"container ids may only use letters, digits, '.', '_' and '-': {spec.container_id!r}"
        )
    network = network or default_network(spec)
    tools = (_tool("unshare"), _tool("mount"), _tool("bwrap"))
    scratch = scratch_root / spec.container_id
    scratch.mkdir(parents=True)  # fails if the id is already in use
    remove_after: list[Path] = []
    cgroup: Cgroup | None = None
    fds: list[int] = []  # every descriptor we opened; the parent's copies are closed after the spawn
    try:
        if upper_dir is None:
            upper, work = scratch / "upper", scratch / "work"
            upper.mkdir()
            os.chmod(upper, 0o755)  # the container's "/" takes the upper directory's mode
            _write_etc(upper, spec, network)
        else:
            upper, work = upper_dir, upper_dir.parent / f"{upper_dir.name}.work"
            remove_after.append(work)
        work.mkdir()  # overlay wants it on the upper's filesystem
        merged = scratch / "merged"
        merged.mkdir()
        layers, host_opts, host_root = _host_root_view(spec.layers, scratch)
        opts, base = overlay_options(layers, upper, work)
        if cgroups is not None:
            cgroup = cgroups.create(spec.container_id, spec.cpu_limit, spec.memory_limit_mb, pids_limit)
        info_r, info_w = os.pipe()
        fds += [info_r, info_w]
        block_r: int | None = None
        block_w: int | None = None
        if network is NetworkMode.NAT:
            block_r, block_w = os.pipe()
            fds += [block_r, block_w]
        args_fd = _args_memfd(bwrap_args(spec, merged, network, info_w, block_r))
        fds.append(args_fd)
        procs = " ".join(str(p) for p in cgroup.procs_files) if cgroup else ""
        unshare, mount, bwrap = tools
        # NAT: the network namespace is made here, not by bwrap, so that bwrap does not race
        # slirp4netns configuring the loopback device (bwrap's own setup fails if it loses).
        namespaces = ["--mount", "--net"] if network is NetworkMode.NAT else ["--mount"]
        argv = [
            unshare,
            *namespaces,
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            "-c",
            _SCRIPT,
            "nodal-launch",
        ]
        argv += [procs, opts, base, str(merged), mount, host_opts, host_root, bwrap, "--args", str(args_fd), "--", *spec.command]
        pass_fds = [fd for fd in (info_w, args_fd, block_r) if fd is not None]
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=HOST_ENV,
            pass_fds=pass_fds,
            start_new_session=True,
        )
    except BaseException:
        for fd in fds:
            os.close(fd)
        if cgroup is not None:
            await cgroup.remove()
        for path in (scratch, *remove_after):
            shutil.rmtree(path, ignore_errors=True)
        raise
    for fd in pass_fds:
        os.close(fd)
    container = LaunchedContainer(
        container_id=spec.container_id,
        process=process,
        scratch=scratch,
        network=network,
        cgroup=cgroup,
        remove_after=remove_after,
        on_network=on_network,
    )
    container._setup = asyncio.create_task(container._finish_setup(info_r, block_w))
    return container
