"""`LocalRuntime`: the runtime backend that runs containers on this host.

Each container is started by the launcher (overlay + bubblewrap, see
`launcher.py`) as an asyncio subprocess. A monitor task per container streams
its stdout/stderr line by line to `on_log`, waits for it to end, releases its
scratch directory, NAT and cgroup, and then calls `on_exit` exactly once.

`exec` runs `enter.py` with the host's own Python: it joins the container's
cgroups, enters its namespaces (ipc, uts, net, pid, mount), its root and the
working directory of its pid-1 (the workdir), and drops to the container's
capability set (Docker's default set, see `launcher.DEFAULT_CAPS`) with
no_new_privs set (as bwrap sets it for the container's own processes) before
anything from the container runs. So an exec'd process holds no more privilege
than the container's own processes and cannot gain any through setuid or
file-capability binaries: no mount, no ptrace of anything outside, no module
loading.

Sandboxes start with `stdin=True` (their stdin is a pipe the server writes) and
an `on_output` callback that receives raw stdout/stderr chunks instead of lines.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import inspect
import logging
import os
import signal
import struct
import termios
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from nodal import paths
from nodal.runtime.backend import (
    ContainerSpec,
    ContainerState,
    ContainerStatus,
    ExitCallback,
    GpuInUse,
    LogSink,
    Resources,
    RuntimeBackend,
)
from nodal.runtime.cgroups import CgroupManager
from nodal.runtime.exec_server import ExecServer, ForkedProcess
from nodal.runtime.gpus import GpuAllocator, GpuDevice, GpuFit, container_gpu_setup, discover_gpus
from nodal.runtime.launcher import (
    DEFAULT_CAPS,
    HOST_ENV,
    LaunchedContainer,
    container_env,
    launch,
    pump_lines,
)

log = logging.getLogger(__name__)

_FINISHED_KEPT = 10_000  # statuses of ended containers remembered for status()
_DRAIN_SECONDS = 2.0  # how long to wait for output after the container's process ended
_KILL_WAIT_SECONDS = 2.0  # after SIGKILL of pid-1, how long before the launcher is killed too
# Output chunks: called with (container_id, "stdout"/"stderr", raw bytes; b"" once at EOF).
OutputSink = Callable[[str, str, bytes], None]

_CAP_NUMBERS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5,
    "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13,
    "CAP_SYS_CHROOT": 18, "CAP_MKNOD": 27, "CAP_AUDIT_WRITE": 29, "CAP_SETFCAP": 31,
}


def _total_memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


@dataclass
class _Running:
    spec: ContainerSpec
    container: LaunchedContainer
    state: ContainerState = ContainerState.STARTING
    exit_code: int | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)  # the process tree is gone
    done: asyncio.Event = field(default_factory=asyncio.Event)  # ... and cleaned up
    monitor: asyncio.Task | None = None


class LocalRuntime(RuntimeBackend):
    """Runs containers on this host; all methods run on one event loop."""

    def __init__(
        self,
        scratch_root: Path | None = None,
        cgroups: CgroupManager | None = None,
        total_cpu: float | None = None,
        total_memory_mb: int | None = None,
        gpus: list[GpuDevice] | None = None,
    ) -> None:
        """`gpus`: this host's GPUs (default: discovered with nvidia-smi)."""
        self.gpus = GpuAllocator(gpus if gpus is not None else discover_gpus())
        self.scratch_root = Path(scratch_root) if scratch_root is not None else paths.containers_dir()
        self.cgroups = cgroups if cgroups is not None else CgroupManager()
        self.total_cpu = float(total_cpu if total_cpu is not None else (os.cpu_count() or 1))
        self.total_memory_mb = int(total_memory_mb if total_memory_mb is not None else _total_memory_mb())
        self._running: dict[str, _Running] = {}
        self._exec_server: ExecServer | None = None  # started on the first exec
        self._finished: OrderedDict[str, ContainerStatus] = OrderedDict()

    async def start(
        self,
        spec: ContainerSpec,
        on_log: LogSink,
        on_exit: ExitCallback,
        *,
        stdin: bool = False,
        on_output: OutputSink | None = None,
        on_network: Callable[[int], Awaitable[None]] | None = None,
        pids_limit: int = 0,
    ) -> None:
        """Start `spec`. `stdin=True` gives its command a stdin pipe (see `stdin_of`);
        `on_output` receives raw output chunks instead of `on_log` receiving lines;
        `on_network(init_pid)` runs once its NAT is up, before its command starts;
        `pids_limit` caps its number of processes (a fork bomb stays inside)."""
        cid = spec.container_id
        if cid in self._running or cid in self._finished:
            raise ValueError(f"container id {cid!r} is already in use")
        self.scratch_root.mkdir(parents=True, exist_ok=True)
        if spec.gpu:  # GpuUnavailable when they are taken: the caller checks gpu_fit first
            binds, env = container_gpu_setup(self.gpus.allocate(cid, spec.gpu), container_env(spec))
            spec = dataclasses.replace(spec, binds=[*spec.binds, *binds], env={**spec.env, **env})
        try:
            container = await launch(
                spec,
                self.scratch_root,
                cgroups=self.cgroups,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                on_network=on_network,
                pids_limit=pids_limit,
            )
        except BaseException:
            self.gpus.release(cid)
            raise
        running = _Running(spec=spec, container=container)
        self._running[cid] = running
        running.monitor = asyncio.create_task(
            self._monitor(running, on_log, on_exit, on_output), name=f"container-{cid}"
        )

    def assign_resources(self, container_id: str, cpu: float, memory_mb: int) -> None:
        """Count a running container as holding `cpu` and `memory_mb` from now on (a spare
        container, started holding nothing, that a function took over)."""
        running = self._running.get(container_id)
        if running is not None:
            running.spec = dataclasses.replace(running.spec, cpu=cpu, memory_mb=memory_mb)

    def stdin_of(self, container_id: str) -> asyncio.StreamWriter | None:
        """The stdin pipe of a container started with `stdin=True` (None once it has ended)."""
        running = self._running.get(container_id)
        return running.container.process.stdin if running is not None else None

    def init_pid(self, container_id: str) -> int | None:
        """Host pid of the container's pid-1 once its namespaces exist (None if not running)."""
        running = self._running.get(container_id)
        return running.container.init_pid if running is not None else None

    def upper_dir(self, container_id: str) -> Path | None:
        """The container's private writable layer (what it changed on top of its image)."""
        running = self._running.get(container_id)
        return running.container.scratch / "upper" if running is not None else None

    async def _monitor(
        self, running: _Running, on_log: LogSink, on_exit: ExitCallback, on_output: OutputSink | None = None
    ) -> None:
        container, cid = running.container, running.spec.container_id

        def sink(stream: str):
            def emit(line: str) -> None:
                try:
                    on_log(cid, stream, line)
                except Exception:
                    log.exception("on_log failed for container %s", cid)

            return emit

        streams = ((container.process.stdout, "stdout"), (container.process.stderr, "stderr"))
        if on_output is not None:
            pumps = [
                asyncio.create_task(_pump_chunks(s, cid, name, on_output)) for s, name in streams if s is not None
            ]
        else:
            pumps = [asyncio.create_task(pump_lines(s, sink(name))) for s, name in streams if s is not None]
        code = -1
        try:
            await container.ready()
            if container.setup_error and container.process.returncode is None:
                sink("stderr")(f"[nodal] container setup problem: {container.setup_error}")
            if running.state is ContainerState.STARTING:
                running.state = ContainerState.RUNNING
            code = await container.wait()
            running.exited.set()
            if pumps:
                _, pending = await asyncio.wait(pumps, timeout=_DRAIN_SECONDS)
                for task in pending:
                    task.cancel()
        finally:
            running.exited.set()
            for task in pumps:
                task.cancel()
            if container.process.returncode is None:  # we were cancelled: take the container down
                container.kill()
                try:
                    code = await asyncio.wait_for(container.wait(), _KILL_WAIT_SECONDS)
                except TimeoutError:
                    container.kill_launcher()
                    code = await container.wait()
            try:
                await container.cleanup()
            except Exception:
                log.exception("cleanup of container %s failed", cid)
            running.exit_code, running.state = code, ContainerState.EXITED
            self._running.pop(cid, None)
            self.gpus.release(cid)  # also after a crash: the process tree is gone
            self._finished[cid] = ContainerStatus(ContainerState.EXITED, code)
            while len(self._finished) > _FINISHED_KEPT:
                self._finished.popitem(last=False)
            running.done.set()
        try:
            result = on_exit(cid, code)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("on_exit failed for container %s", cid)

    async def stop(self, container_id: str, grace_seconds: float = 5.0) -> None:
        running = self._running.get(container_id)
        if running is None:
            return
        if not running.exited.is_set():
            try:
                await asyncio.wait_for(running.container.ready(), timeout=grace_seconds)
            except TimeoutError:
                pass
            running.container.signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(running.exited.wait(), timeout=grace_seconds)
            except TimeoutError:
                running.container.kill()
                try:
                    await asyncio.wait_for(running.exited.wait(), timeout=_KILL_WAIT_SECONDS)
                except TimeoutError:
                    running.container.kill_launcher()
        await running.done.wait()

    def status(self, container_id: str) -> ContainerStatus | None:
        running = self._running.get(container_id)
        if running is not None:
            return ContainerStatus(running.state, running.exit_code)
        return self._finished.get(container_id)

    def resources_left(self) -> Resources:
        cpu = sum(r.spec.cpu for r in self._running.values())
        memory = sum(r.spec.memory_mb for r in self._running.values())
        return Resources(
            cpu=self.total_cpu - cpu, memory_mb=self.total_memory_mb - memory, gpus=self.gpus.free_by_type()
        )

    def gpu_fit(self, request: str) -> GpuFit:
        return self.gpus.fit(request)

    def reserve_gpus(self, container_id: str, request: str) -> None:
        self.gpus.allocate(container_id, request)

    def release_gpus(self, container_id: str) -> None:
        if container_id not in self._running:
            self.gpus.release(container_id)

    def gpu_inventory(self) -> list[GpuInUse]:
        return [GpuInUse("local", d, self.gpus.holder(d)) for d in self.gpus.devices]

    async def exec(
        self,
        container_id: str,
        command: list[str],
        *,
        env: dict[str, str] | None = None,
        workdir: str | None = None,
        pty: bool = False,
        pty_size: tuple[int, int] | None = None,
        stdout: int = asyncio.subprocess.PIPE,
        stderr: int = asyncio.subprocess.PIPE,
    ) -> ForkedProcess:
        """Start `command` inside the running container, with the container's env (plus `env`)
        and workdir (or `workdir`), holding only the container's capabilities.

        With `pty=True` the process gets a new terminal as stdin/stdout/stderr and its controlling
        terminal, sized `pty_size` (rows, cols) before the command starts; its master side is
        `ForkedProcess.pty_master`."""
        running = self._running.get(container_id)
        if running is None or running.exited.is_set():
            raise ValueError(f"container {container_id!r} is not running")
        init_pid = await running.container.rooted()
        if init_pid is None:
            raise RuntimeError(f"container {container_id!r} has no namespaces to enter")
        spec = running.spec
        full_env = container_env(spec)
        full_env.update(env or {})
        if pty:
            full_env.setdefault("TERM", "xterm-256color")
        # Loader variables would apply to the host's Python too: hand them over via env(1) instead.
        loader_vars = {k: full_env.pop(k) for k in list(full_env) if k.startswith("LD_")}
        if loader_vars:
            command = ["/usr/bin/env", *[f"{k}={v}" for k, v in loader_vars.items()], *command]
        # An unprivileged server has no capabilities to hand out: "-" leaves them as they are.
        keep = ",".join(str(_CAP_NUMBERS[c]) for c in DEFAULT_CAPS) if os.geteuid() == 0 else "-"
        cgroup = running.container.cgroup
        procs = " ".join(str(p) for p in cgroup.procs_files) if cgroup is not None else ""
        # A fork server of the host's own Python enters the container (nodal/runtime/enter.py), so
        # no file of the container runs before privileges are dropped.
        if self._exec_server is None:
            self._exec_server = ExecServer()
        if pty:
            master, slave = _container_pty(init_pid)
            if pty_size is not None:
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", pty_size[0], pty_size[1], 0, 0))
            try:
                return await self._exec_server.spawn(
                    init_pid=init_pid, procs=procs, keep=keep, workdir=workdir or "", argv=command,
                    env={**HOST_ENV, **full_env}, pty_slave=slave, pty_master=master,
                )
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
        return await self._exec_server.spawn(
            init_pid=init_pid, procs=procs, keep=keep, workdir=workdir or "", argv=command,
            env={**HOST_ENV, **full_env}, stdout=stdout, stderr=stderr,
        )

    async def shutdown(self, grace_seconds: float = 5.0) -> None:
        await asyncio.gather(*(self.stop(cid, grace_seconds) for cid in list(self._running)))
        if self._exec_server is not None:
            await self._exec_server.close()
            self._exec_server = None


async def _pump_chunks(stream: asyncio.StreamReader, cid: str, name: str, on_output: OutputSink) -> None:
    """Hand every chunk of `stream` to `on_output`, then b"" at EOF."""
    try:
        while True:
            chunk = await stream.read(65536)
            try:
                on_output(cid, name, chunk)
            except Exception:
                log.exception("on_output failed for container %s", cid)
            if not chunk:
                return
    except asyncio.CancelledError:
        on_output(cid, name, b"")
        raise


def _container_pty(init_pid: int) -> tuple[int, int]:
    """A pseudo-terminal from the container's own devpts (so `tty` inside names it), or the host's.

    Opened through the container's root without following links: `/dev` and `/dev/pts` are
    mount points the container cannot replace, `ptmx` a kernel node; the slave comes from the
    master by TIOCGPTPEER, with no path lookup at all."""
    import fcntl
    import pty as pty_mod
    import stat

    path = f"/proc/{init_pid}/root/dev/pts/ptmx"
    try:
        master = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return pty_mod.openpty()
    try:
        st = os.fstat(master)
        if not stat.S_ISCHR(st.st_mode) or os.major(st.st_rdev) != 5 or os.minor(st.st_rdev) != 2:
            raise OSError("not the ptmx device")
        fcntl.ioctl(master, 0x40045431, b"\0\0\0\0")  # TIOCSPTLCK 0: unlockpt
        slave = fcntl.ioctl(master, 0x5441, os.O_RDWR | os.O_NOCTTY)  # TIOCGPTPEER
        return master, slave
    except OSError:
        os.close(master)
        return pty_mod.openpty()
