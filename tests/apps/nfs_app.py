"""Functions that share a modal.NetworkFileSystem mounted at /shared (tests/test_nfs.py)."""

import os
import time

import modal

app = modal.App("nodal-test-nfs")

nfs = modal.NetworkFileSystem.from_name("nodal-test-nfs", create_if_missing=True)


@app.function(network_file_systems={"/shared": nfs})
def write(path: str, text: str) -> list:
    """Write a file under /shared; return the root's listing as this container sees it."""
    full = os.path.join("/shared", path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)
    return sorted(os.listdir("/shared"))


@app.function(network_file_systems={"/mnt/other": nfs})
def read(path: str) -> str:
    """Read a file from the same file system at another mount path."""
    with open(os.path.join("/mnt/other", path)) as f:
        return f.read()


@app.function(network_file_systems={"/shared": nfs}, max_containers=2)
def wait_for(path: str, timeout: float) -> str:
    """Poll for a file another container writes while this one runs (no commit, no reload)."""
    deadline = time.monotonic() + timeout
    full = os.path.join("/shared", path)
    while time.monotonic() < deadline:
        if os.path.exists(full):
            with open(full) as f:
                return f.read()
        time.sleep(0.05)
    return "timed out"


@app.function(network_file_systems={"/shared": nfs})
def escape(path: str) -> str:
    """Make a symlink inside the file system pointing outside it (for the traversal test)."""
    full = os.path.join("/shared", path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    if not os.path.lexists(full):
        os.symlink("/etc", full)
    return os.readlink(full)


@app.cls(network_file_systems={"/cls-shared": nfs})
class Reader:
    prefix: str = modal.parameter()

    @modal.method()
    def read(self, name: str) -> str:
        with open(os.path.join("/cls-shared", self.prefix, name)) as f:
            return f.read()
