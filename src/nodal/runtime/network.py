"""Container networking: user-mode NAT with slirp4netns, and async pipe reads.

A container that may use the network gets its own network namespace (made by
the launcher's `unshare --net`, so bwrap does not set up loopback concurrently
with slirp4netns) and a slirp4netns process attached to it, which gives it a
`tap0` interface with a default route and outbound NAT, but no way to reach
services on the host's loopback (`--disable-host-loopback`). DNS goes through
slirp's forwarder at 10.0.2.3. The container's command is held (bwrap
`--block-fd`) until the NAT is ready, which costs a few milliseconds.

`--exit-fd` ties slirp4netns to a pipe we hold: closing it (or our process
dying) makes slirp4netns exit, so it never outlives its container by much.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass

NAT_RESOLV_CONF = "nameserver 10.0.2.3\n"


def slirp4netns_path() -> str | None:
    return shutil.which("slirp4netns")


async def read_fd_until(fd: int, done: Callable[[bytes], bool], timeout: float) -> bytes:
    """Read from the (pipe) `fd` until `done(data)` or EOF, without blocking the event loop."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    data = bytearray()
    finished = loop.create_future()

    def on_readable() -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError as e:
                if not finished.done():
                    finished.set_exception(e)
                return
            if chunk:
                data.extend(chunk)
            if not chunk or done(bytes(data)):
                if not finished.done():
                    finished.set_result(None)
                return

    loop.add_reader(fd, on_readable)
    try:
        await asyncio.wait_for(finished, timeout)
    finally:
        loop.remove_reader(fd)
    return bytes(data)


@dataclass
class NatHandle:
    """A running slirp4netns attached to one container."""

    process: asyncio.subprocess.Process
    exit_fd: int

    async def close(self) -> None:
        """Stop slirp4netns and reap it (a kill: it has nothing to flush once the container is gone)."""
        if self.exit_fd >= 0:
            os.close(self.exit_fd)
            self.exit_fd = -1
        if self.process.returncode is None:
            try:
                self.process.kill()
            except ProcessLookupError:
                pass
        await self.process.wait()


async def attach_nat(pid: int, timeout: float = 5.0) -> NatHandle:
    """Give the network namespace of `pid` outbound NAT through slirp4netns; returns when it is up."""
    binary = slirp4netns_path()
    if binary is None:
        raise RuntimeError("slirp4netns is not installed")
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe()
    os.set_inheritable(exit_w, False)
    try:
        proc = await asyncio.create_subprocess_exec(
            binary,
            "--configure",
            "--mtu=65520",
            "--disable-host-loopback",
            f"--ready-fd={ready_w}",
            f"--exit-fd={exit_r}",
            str(pid),
            "tap0",
            pass_fds=(ready_w, exit_r),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except BaseException:
        for fd in (ready_r, exit_w):
            os.close(fd)
        raise
    finally:
        os.close(ready_w)
        os.close(exit_r)
    handle = NatHandle(process=proc, exit_fd=exit_w)
    try:
        data = await read_fd_until(ready_r, lambda d: len(d) > 0, timeout)
        if not data:
            raise RuntimeError(f"slirp4netns exited before it was ready (code {await proc.wait()})")
    except BaseException:
        await handle.close()
        raise
    finally:
        os.close(ready_r)
    return handle
