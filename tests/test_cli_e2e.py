"""The `modal` command end to end, as a user runs it, against the session's real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
MODAL = [sys.executable, "-m", "modal.cli.entry"]


def modal_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*MODAL, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def test_modal_run_example(nodal_server):
    proc = modal_cli("run", "examples/hello_world.py")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert "1000000" in lines  # f.local(1000) and f.remote(1000)
    assert str(sum(i * i for i in range(200))) in "".join(lines)
    assert "hello 0" in proc.stdout  # the containers' stdout reaches the terminal
    assert "world 1" in proc.stderr  # and their stderr too


def test_modal_run_function_with_typed_arguments(nodal_server, tmp_path):
    app_file = tmp_path / "typed_app.py"
    app_file.write_text(
        "import modal\n"
        "app = modal.App('cli-typed')\n"
        "@app.function()\n"
        "def scale(x: int, factor: float = 2.0, loud: bool = False) -> str:\n"
        "    out = f'{x * factor:g}'\n"
        "    return out.upper() + '!' if loud else out\n"
    )
    proc = modal_cli("run", f"{app_file}::scale", "--x", "21", "--loud")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "42!"
    bad = modal_cli("run", f"{app_file}::scale", "--x", "not-a-number")
    assert bad.returncode == 2
    assert "--x" in bad.stderr


def test_modal_app_list_and_server_status(nodal_server, core_app):
    status = modal_cli("server", "status")
    assert status.returncode == 0, status.stderr
    assert str(nodal_server) in status.stdout
    listing = modal_cli("app", "list")
    assert listing.returncode == 0, listing.stderr
    assert "nodal-test-core" in listing.stdout
