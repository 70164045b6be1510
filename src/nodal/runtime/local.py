"""`LocalRuntime`: the runtime backend that runs containers on this host.

Each container is started by the launcher (overlay + bubblewrap, see
`launcher.py`) as an asyncio subprocess. A monitor task per container streams
its stdout/stderr line by line to `on_log`, waits for it to end, releases its
scratch directory, NAT and cgroup, and then calls `on_exit` exactly once.

`exec` enters a running container's namespaces with `nsenter` (mount, pid,
ipc, uts, net, root and the working directory of its pid-1, i.e. the workdir). Note: the exec'd process runs as
root with the host's full capability set inside the container (like
`docker exec --privileged`); bwrap's capability drop applies to the
container's own processes only.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from nodal import paths
from nodal.runtime.backend import (
    ContainerSpec,
    ContainerState,
    ContainerStatus,
    ExecProcess,
    ExitCallback,
    LogSink,
    Resources,
    RuntimeBackend,
)
from nodal.runtime.cgroups import CgroupManager
from nodal.runtime.launcher import HOST_ENV, LaunchedContainer, _tool, container_env, launch, pump_lines

log = logging.getLogger(__name__)

_FINISHED_KEPT = 10_000  # statuses of ended containers remembered for status()
_DRAIN_SECONDS = 2.0  # how long to wait for output after the container's process ended
_KILL_WAIT_SECONDS = 2.0  # after SIGKILL of pid-1, how long before the launcher is killed too


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


class LocalExecProcess(ExecProcess):
    """A process started inside a running container by `LocalRuntime.exec`.

    `stdin`, `stdout` and `stderr` are the asyncio pipes of the process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stdin = process.stdin
        self.stdout = process.stdout
        self.stderr = process.stderr

    @property
    def pid(self) -> int:
        return self.process.pid

    async def wait(self) -> int:
        code = await self.process.wait()
        return 128 - code if code < 0 else code

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


class LocalRuntime(RuntimeBackend):
    """Runs containers on this host; all methods run on one event loop."""

    def __init__(
        self,
        scratch_root: Path | None = None,
        cgroups: CgroupManager | None = None,
        total_cpu: float | None = None,
        total_memory_mb: int | None = None,
    ) -> None:
        self.scratch_root = Path(scratch_root) if scratch_root is not None else paths.containers_dir()
        self.cgroups = cgroups if cgroups is not None else CgroupManager()
        self.total_cpu = float(total_cpu if total_cpu is not None else (os.cpu_count() or 1))
        self.total_memory_mb = int(total_memory_mb if total_memory_mb is not None else _total_memory_mb())
        self._running: dict[str, _Running] = {}
        self._finished: OrderedDict[str, ContainerStatus] = OrderedDict()

    async def start(self, spec: ContainerSpec, on_log: LogSink, on_exit: ExitCallback) -> None:
        cid = spec.container_id
        if cid in self._running or cid in self._finished:
            raise ValueError(f"container id {cid!r} is already in use")
        self.scratch_root.mkdir(parents=True, exist_ok=True)
        container = await launch(spec, self.scratch_root, cgroups=self.cgroups)
        running = _Running(spec=spec, container=container)
        self._running[cid] = running
        running.monitor = asyncio.create_task(
            self._monitor(running, on_log, on_exit), name=f"container-{cid}"
        )

    async def _monitor(self, running: _Running, on_log: LogSink, on_exit: ExitCallback) -> None:
        container, cid = running.container, running.spec.container_id

        def sink(stream: str):
            def emit(line: str) -> None:
                try:
                    on_log(cid, stream, line)
                except Exception:
                    log.exception("on_log failed for container %s", cid)

            return emit

        pumps = [
            asyncio.create_task(pump_lines(s, sink(name)))
            for s, name in ((container.process.stdout, "stdout"), (container.process.stderr, "stderr"))
            if s is not None
        ]
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
        return Resources(cpu=self.total_cpu - cpu, memory_mb=self.total_memory_mb - memory)

    async def exec(self, container_id: str, command: list[str]) -> LocalExecProcess:
        """Start `command` inside the running container, with the container's env and workdir."""
        running = self._running.get(container_id)
        if running is None or running.exited.is_set():
            raise ValueError(f"container {container_id!r} is not running")
        init_pid = await running.container.ready()
        if init_pid is None:
            raise RuntimeError(f"container {container_id!r} has no namespaces to enter")
        spec = running.spec
        env = container_env(spec)
        # Loader variables would apply to the host's nsenter too: hand them over via env(1) instead.
        loader_vars = {k: env.pop(k) for k in list(env) if k.startswith("LD_")}
        prefix = ["/usr/bin/env", *[f"{k}={v}" for k, v in loader_vars.items()]] if loader_vars else []
        namespaces = ["-m", "-u", "-i", "-n", "-p", "-r", "-w"]  # -w: the cwd of pid-1, the workdir
        nsenter = [_tool("nsenter"), "-t", str(init_pid), *namespaces, "--", *prefix, *command]
        cgroup = running.container.cgroup
        if cgroup is not None:  # join the container's cgroup before entering it
            procs = " ".join(str(p) for p in cgroup.procs_files)
            nsenter = [
                "/bin/sh",
                "-c",
                'for f in $1; do echo $$ > "$f"; done; shift; exec "$@"',
                "nodal-exec",
                procs,
                *nsenter,
            ]
        process = await asyncio.create_subprocess_exec(
            *nsenter,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**HOST_ENV, **env},
            start_new_session=True,
        )
        return LocalExecProcess(process)

    async def shutdown(self, grace_seconds: float = 5.0) -> None:
        await asyncio.gather(*(self.stop(cid, grace_seconds) for cid in list(self._running)))
