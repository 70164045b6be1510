"""Sandbox.exec and ContainerProcess: streams, stdin, exit codes, concurrency, errors."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

import modal
from modal.exception import InvalidError
from modal.stream_type import StreamType


@pytest.fixture(scope="module")
def sb(nodal_server, require_containers):
    app = modal.App.lookup("sandbox-exec-tests", create_if_missing=True)
    sandbox = modal.Sandbox.create(app=app, secrets=[modal.Secret.from_dict({"SB_LEVEL": "sandbox"})])
    yield sandbox
    sandbox.terminate()


def test_exec_stdout_stderr_and_returncode(sb):
    p = sb.exec("sh", "-c", "echo out; echo err >&2; exit 7")
    assert p.stdout.read() == "out\n"
    assert p.stderr.read() == "err\n"
    assert p.wait() == 7
    assert p.returncode == 7
    assert p.poll() == 7


def test_exec_iterates_lines_and_chunks(sb):
    p = sb.exec("sh", "-c", "for i in 1 2 3; do echo foo $i; sleep 0.05; done", bufsize=1)
    assert list(p.stdout) == ["foo 1\n", "foo 2\n", "foo 3\n"]
    assert p.wait() == 0
    p = sb.exec("printf", "a\\nb")
    assert "".join(p.stdout) == "a\nb"


def test_exec_binary_mode(sb):
    p = sb.exec("printf", "\\377\\000x", text=False)
    assert p.stdout.read() == b"\xff\x00x"


def test_exec_stdin_write_eof_drain(sb):
    p = sb.exec("cat")
    p.stdin.write(b"hello ")
    p.stdin.write("world")
    p.stdin.write_eof()
    p.stdin.drain()
    assert p.stdout.read() == "hello world"
    assert p.wait() == 0


def test_interpreter_loop_over_stdin_and_stdout(sb):
    """The reference's pattern: drive a long-lived interpreter line by line."""
    code = (
        "import sys\n"
        "for line in sys.stdin:\n"
        "    print(eval(line), flush=True)\n"
    )
    p = sb.exec("python3", "-u", "-c", code, bufsize=1)
    lines = iter(p.stdout)
    for expr, expected in [("1+1", "2"), ("'ab'*3", "ababab"), ("sum(range(10))", "45")]:
        p.stdin.write(expr + "\n")
        p.stdin.drain()
        assert next(lines) == expected + "\n"
    p.stdin.write_eof()
    p.stdin.drain()
    assert p.wait() == 0


def test_exec_workdir_secrets_and_sandbox_env(sb):
    p = sb.exec(
        "sh", "-c", "pwd; echo $SB_LEVEL $EXEC_LEVEL",
        workdir="/tmp", secrets=[modal.Secret.from_dict({"EXEC_LEVEL": "exec"})],
    )
    assert p.stdout.read() == "/tmp\nsandbox exec\n"


def test_exec_devnull_and_stdout_stream_types(sb, capfd):
    p = sb.exec("sh", "-c", "echo quiet; echo loud >&2", stdout=StreamType.DEVNULL, stderr=StreamType.STDOUT)
    assert p.wait() == 0
    assert p.stdout.read() == ""
    assert p.stderr.read() == ""
    assert "loud" in capfd.readouterr().out


def test_exec_timeout_kills_the_process(sb):
    started = time.monotonic()
    p = sb.exec("sleep", "30", timeout=1)
    code = p.wait()
    assert code != 0
    assert time.monotonic() - started < 10


def test_exec_sees_files_of_the_sandbox_and_of_other_execs(sb):
    sb.exec("sh", "-c", "echo shared > /tmp/shared.txt").wait()
    assert sb.exec("cat", "/tmp/shared.txt").stdout.read() == "shared\n"


def test_twenty_concurrent_execs(sb):
    results: dict[int, str] = {}

    def one(i: int) -> None:
        p = sb.exec("sh", "-c", f"sleep 0.2; echo {i}")
        results[i] = p.stdout.read().strip()
        assert p.wait() == 0

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {i: str(i) for i in range(20)}
    assert time.monotonic() - started < 30  # a deadline for all 20 (each sleeps 0.2 s)


def test_exec_round_trip_is_fast(sb):
    sb.exec("true").wait()
    times = []
    for _ in range(15):
        t0 = time.perf_counter()
        p = sb.exec("echo", "hi")
        assert p.stdout.read() == "hi\n"
        p.wait()
        times.append(time.perf_counter() - t0)
    assert statistics.median(times) < 0.3  # bench/sandbox.py measures the 20 ms target; this catches gross slowdowns


def test_exec_bad_arguments(sb):
    with pytest.raises(InvalidError):
        sb.exec()
    with pytest.raises(InvalidError):
        sb.exec("echo", 1)
    with pytest.raises(InvalidError):
        sb.exec("true", bufsize=1, text=False)
    with pytest.raises(InvalidError):
        sb.exec("true", workdir="relative")
    with pytest.raises(InvalidError):
        sb.exec("true", stdout="pipe")


def test_exec_of_a_missing_program_fails_with_its_exit_code(sb):
    p = sb.exec("no-such-program-here")
    assert p.wait() != 0
    assert "no-such-program-here" in p.stderr.read()


def test_exec_on_a_finished_sandbox_is_an_error(nodal_server, require_containers):
    app = modal.App.lookup("sandbox-exec-tests", create_if_missing=True)
    done = modal.Sandbox.create("true", app=app)
    done.wait()
    with pytest.raises(InvalidError, match="finished"):
        done.exec("echo", "hi")


def test_terminate_ends_running_execs(nodal_server, require_containers):
    app = modal.App.lookup("sandbox-exec-tests", create_if_missing=True)
    box = modal.Sandbox.create(app=app)
    p = box.exec("sleep", "60")
    box.terminate()
    assert p.wait() != 0
