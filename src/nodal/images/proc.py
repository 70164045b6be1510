"""Run a host command and stream its output, line by line, to a build log."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from nodal.runtime.launcher import pump_lines


async def run_streaming(cmd: list[str], log: Callable[[str], None], env: dict[str, str] | None = None) -> int:
    """Run `cmd` with stdout and stderr merged into `log`; return its exit code."""
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env if env is not None else dict(os.environ),
    )
    assert proc.stdout is not None
    try:
        await pump_lines(proc.stdout, log)
        return await proc.wait()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
