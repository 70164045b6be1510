"""modal.interact() and breakpoint() in a container, with the app run interactively
(`app.run(interactive=True)`, as `modal run -i` does): the container's terminal reaches the
frontend's stdin and stdout. The frontend here is a real client process whose stdin is a pipe
the test writes to; its stdout shows what the container's terminal printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("require_containers")

TESTS = Path(__file__).parent


def _run(code: str, typed: str, timeout: float = 120) -> subprocess.CompletedProcess:
    script = f"import sys\nsys.path.insert(0, {str(TESTS)!r})\n" + code
    return subprocess.run([sys.executable, "-c", script], input=typed, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"}, check=False)


def test_input_in_a_container_reads_the_frontends_terminal(nodal_server):
    done = _run(
        "from apps.interact_app import app, ask\n"
        "with app.run(interactive=True):\n"
        "    print('ANSWER', repr(ask.remote('name? ')), flush=True)\n",
        typed="Ada\n",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "name? " in done.stdout  # the container's prompt, on the frontend's stdout
    assert "ANSWER 'Ada'" in done.stdout


def test_breakpoint_opens_pdb_on_the_frontends_terminal(nodal_server):
    done = _run(
        "from apps.interact_app import app, debug\n"
        "with app.run(interactive=True):\n"
        "    print('RESULT', debug.remote(5), flush=True)\n",
        typed="p y * 100\nc\n",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(Pdb)" in done.stdout and "1000" in done.stdout  # pdb evaluated `y * 100` in the function
    assert "RESULT 11" in done.stdout


def test_without_a_frontend_interact_says_how_to_get_one_and_breakpoint_carries_on(nodal_server):
    from apps.interact_app import app, ask, debug

    import modal

    with app.run():
        with pytest.raises(modal.exception.InteractiveTimeoutError, match="modal run -i"):
            ask.remote("name? ")
        assert debug.remote(5) == 11
