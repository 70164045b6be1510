"""Functions that use a modal.Volume mounted at /data (tests/test_volumes.py)."""

import os

import modal

app = modal.App("nodal-test-volumes")

vol = modal.Volume.from_name("nodal-test-volume", create_if_missing=True)


@app.function(volumes={"/data": vol})
def cat_fresh(path: str) -> str:
    """Read a file from this container's mount (its first call sees the version at container start)."""
    with open(os.path.join("/data", path)) as f:
        return f.read()


@app.function(volumes={"/data": vol})
def write_files(files: dict, remove: list | None = None) -> list:
    """Write (and remove) files, not committing: the auto-commit after the input does it."""
    for path, text in files.items():
        full = os.path.join("/data", path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    for path in remove or []:
        os.remove(os.path.join("/data", path))
    return sorted(os.listdir("/data"))


@app.function(volumes={"/data": vol})
def write_then_commit(path: str, text: str) -> tuple:
    """Write a file; is it visible to the server's view before and after an explicit commit?"""
    full = os.path.join("/data", path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)

    def visible() -> bool:
        try:
            return b"".join(vol.read_file(path)).decode() == text
        except FileNotFoundError:
            return False

    before = visible()
    vol.commit()
    return before, visible()


@app.function(volumes={"/data": vol})
def reload_sees(path: str, to_client: modal.Queue, from_client: modal.Queue) -> list:
    """Read a file, let the client change it, read it again, reload, read once more."""
    full = os.path.join("/data", path)
    seen = [open(full).read()]
    to_client.put("ready")
    from_client.get(timeout=60)
    seen.append(open(full).read())
    vol.reload()
    seen.append(open(full).read())
    return seen


@app.function(volumes={"/data": vol})
def write_lines(path: str, n: int):
    """A generator: its writes are committed before the caller sees the end."""
    full = os.path.join("/data", path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        for i in range(n):
            f.write(f"{i}\n")
            yield i


defaults = modal.App("nodal-test-volumes-default", volumes={"/vol": vol})


@defaults.function()
def default_mount(path: str) -> str:
    """Uses the App-level default volumes=: reads from /vol after a reload."""
    vol.reload()
    with open(os.path.join("/vol", path)) as f:
        return f.read()
