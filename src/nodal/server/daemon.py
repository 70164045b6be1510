"""Starting, finding and stopping the local server daemon (used by the SDK and `modal server`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from nodal import paths

START_DEADLINE = 30.0
STOP_DEADLINE = 30.0


def server_pid() -> int | None:
    """The pid of the running server for this NODAL_HOME, or None."""
    try:
        pid = int(paths.pid_path().read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def _socket_accepts() -> bool:
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(paths.socket_path()))
        return True
    except OSError:
        return False
    finally:
        s.close()


def start_daemon(command: Sequence[str] = ()) -> int:
    """Start the server detached from the caller (own session, output to a log file) and
    return its pid once its socket accepts connections. `command`: the server's command line
    (default `python -m nodal.server`; benchmarks start it under their probes)."""
    paths.ensure_dirs()
    log_path = paths.server_log_path()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(
            list(command) or [sys.executable, "-m", "nodal.server"],
            stdin=devnull,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pid = server_pid()
            if pid is not None:  # lost a race with another starter: that server is fine
                return pid
            raise RuntimeError(f"the Nodal server exited with code {proc.returncode}; see {log_path}")
        if server_pid() == proc.pid and _socket_accepts():
            return proc.pid
        time.sleep(0.02)  # polling the socket until it is ready, with a deadline
    proc.kill()
    raise RuntimeError(f"the Nodal server did not start within {START_DEADLINE:.0f}s; see {log_path}")


def stop_daemon() -> bool:
    """SIGTERM the server and wait for it to exit; True if one was running."""
    pid = server_pid()
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_DEADLINE
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # it was our own child: reap it
                return True
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)  # polling for the exit, with a deadline
    os.kill(pid, signal.SIGKILL)
    return True
