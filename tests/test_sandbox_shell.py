"""`modal shell` driven through a real PTY, `modal container list|logs|exec|stop`, and
`modal.runner.interactive_shell`."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

import modal

ROOT = Path(__file__).parent.parent
MODAL = [sys.executable, "-m", "modal.cli.entry"]


class PtySession:
    """A command run on a new pseudo-terminal, read with deadlines."""

    def __init__(self, args: list[str], rows: int = 30, cols: int = 100) -> None:
        self.master, slave = os.openpty()
        self.resize(rows, cols)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "xterm"}
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.output = b""

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def send(self, data: str) -> None:
        os.write(self.master, data.encode())

    def mark(self) -> int:
        """The current end of the output: `expect(..., after=mark)` looks only at what comes later."""
        return len(self.output)

    def expect(self, text: str, timeout: float = 60.0, after: int = 0) -> str:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output[after:]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {text!r}; got:\n{self.output.decode(errors='replace')}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    if text.encode() not in self.output[after:]:
                        raise AssertionError(f"EOF before {text!r}; got:\n{self.output.decode(errors='replace')}")
                    break
                self.output += chunk
        return self.output.decode(errors="replace")

    def wait(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:  # drain output so the child never blocks on a full terminal
            if time.monotonic() > deadline:
                raise AssertionError("the command did not exit")
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    pass
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)


@pytest.fixture()
def pty_session(nodal_server, require_containers):
    sessions: list[PtySession] = []

    def start(*args: str, **kw) -> PtySession:
        s = PtySession([*MODAL, *args], **kw)
        sessions.append(s)
        return s

    yield start
    for s in sessions:
        s.close()


def test_shell_cmd_runs_on_a_terminal(pty_session):
    s = pty_session("shell", "--cmd", "echo hi-from-shell; tty; exit 4")
    s.expect("hi-from-shell")
    assert s.wait() == 4
    assert "/dev/pts/" in s.output.decode()


def test_interactive_shell_size_resize_ctrl_c_and_exit(pty_session):
    s = pty_session("shell", rows=30, cols=100)
    s.expect("root@")  # bash's prompt: the shell is up
    s.send("echo $((6*7))-ok\r")
    s.expect("42-ok")
    s.send("stty size\r")
    s.expect("30 100")
    s.resize(40, 120)
    os.kill(s.proc.pid, signal.SIGWINCH)

    def size_seen() -> bool:
        mark = s.mark()
        s.send("stty size\r")
        try:
            s.expect("40 120", timeout=2, after=mark)
            return True
        except AssertionError:
            return False

    assert any(size_seen() for _ in range(10)), "the new terminal size never reached the container"
    # The line is printed by the command itself, so once it shows, that process is the terminal's
    # foreground job (a shell builtin's echo would show before `sleep` had the terminal).
    s.send("sh -c 'echo sleeping-$((40+2)); exec sleep 100'\r")
    s.expect("sleeping-42")  # the command runs (its echo shows the unexpanded text)
    mark = s.mark()
    s.send("\x03")  # Ctrl-C interrupts the remote command, not the shell
    s.expect("root@", after=mark)  # a fresh prompt: the shell survived
    s.send("echo after-$((1+1))-interrupt\r")
    s.expect("after-2-interrupt")
    s.send("exit 3\r")
    assert s.wait() == 3


def test_shell_of_a_function_has_its_image_and_secrets(pty_session):
    s = pty_session("shell", "tests/apps/shell_app.py::fn", "--cmd",
                    "echo $SHELL_IMAGE_VAR $SHELL_SECRET; test -f /root/shell_app.py && echo code-at-root")
    s.expect("from-image from-secret")
    s.expect("code-at-root")
    assert s.wait() == 0


def modal_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*MODAL, *args], cwd=ROOT, env={**os.environ}, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def test_container_list_exec_logs_stop(nodal_server, require_containers, wait_until):
    app = modal.App.lookup("container-cli-tests", create_if_missing=True)
    sb = modal.Sandbox.create("sh", "-c", "echo started-up; exec sleep 300", app=app)
    try:
        listed = modal_cli("container", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert sb.object_id in listed.stdout
        out = modal_cli("container", "exec", sb.object_id, "sh", "-c", "echo inside-$((2+3))")
        assert out.returncode == 0, out.stderr
        assert "inside-5" in out.stdout
        wait_until(lambda: "started-up" in modal_cli("container", "logs", "--no-follow", sb.object_id).stdout,
                   timeout=20, what="the sandbox's log line")
        stopped = modal_cli("container", "stop", sb.object_id)
        assert stopped.returncode == 0, stopped.stderr
        assert sb.poll() is not None
        missing = modal_cli("container", "exec", sb.object_id, "true")
        assert missing.returncode != 0
    finally:
        sb.terminate()


def test_container_exec_in_a_function_container(nodal_server, require_containers, core_app, wait_until):
    from apps.core_app import square

    assert square.remote(3) == 9
    rows = wait_until(
        lambda: [line for line in modal_cli("container", "list").stdout.splitlines() if "square" in line],
        timeout=20, what="the function's container in the list",
    )
    container_id = rows[0].split()[0].strip("│ ")
    out = modal_cli("container", "exec", container_id, "sh", "-c", "echo $MODAL_TASK_ID")
    assert out.returncode == 0, out.stderr
    assert container_id in out.stdout


def test_interactive_shell_from_python(nodal_server, require_containers):
    code = (
        "import modal, modal.runner\n"
        "app = modal.App('interactive-shell-test')\n"
        "raise SystemExit(modal.runner.interactive_shell(app, ['sh', '-c', 'echo via-runner; exit 5']))\n"
    )
    s = PtySession([sys.executable, "-c", code])
    try:
        s.expect("via-runner")
        assert s.wait() == 5
    finally:
        s.close()


def test_shell_with_an_image_id(pty_session):
    image = modal.Image.debian_slim().env({"SHELL_BY_ID": "yes-by-id"}).hydrate()
    assert image.object_id and image.object_id.startswith("im-")
    s = pty_session("shell", "--image", image.object_id, "--cmd", "echo $SHELL_BY_ID")
    s.expect("yes-by-id")
    assert s.wait() == 0


def test_shell_into_a_running_sandbox(pty_session):
    app = modal.App.lookup("container-cli-tests", create_if_missing=True)
    sb = modal.Sandbox.create("sh", "-c", "echo marker > /tmp/mine; exec sleep 300", app=app)
    try:
        s = pty_session("shell", sb.object_id, "--cmd", "until [ -s /tmp/mine ]; do sleep 0.05; done; cat /tmp/mine")
        s.expect("marker")
        assert s.wait() == 0
    finally:
        sb.terminate()
