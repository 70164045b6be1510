"""`modal.enable_output()`: show build progress and app logs in this process's terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

_enabled = False


@contextlib.contextmanager
def enable_output(show_progress: bool = True) -> Iterator[None]:
    """Within this block, running apps print their status and their containers' output."""
    global _enabled
    previous, _enabled = _enabled, True
    try:
        yield
    finally:
        _enabled = previous


def output_enabled() -> bool:
    return _enabled


def status(message: str) -> None:
    """A progress line for the user, on stderr; styled only on a terminal."""
    if not _enabled:
        return
    if sys.stderr.isatty():
        from rich.console import Console

        Console(stderr=True).print(f"[green]✓[/green] {message}")
    else:
        print(message, file=sys.stderr, flush=True)


def container_line(stream: str, data: str) -> None:
    """One line of a container's output, printed as the user's code wrote it."""
    if not _enabled:
        return
    target = sys.stderr if stream == "stderr" else sys.stdout
    target.write(data if data.endswith("\n") else data + "\n")
    target.flush()
