"""Functions whose images add local files (no test-only imports here).

The local files live under $NODAL_TEST_LOCAL_FILES_DIR (the tests create them).
Inside a container that variable is unset: the images are then only described,
never read, as the add_local_* calls read the file system lazily.
"""

import os
import subprocess
from pathlib import Path

import modal

DATA = os.environ.get("NODAL_TEST_LOCAL_FILES_DIR", "/nonexistent")

app = modal.App("nodal-test-local-files")

copied_image = (
    modal.Image.debian_slim()
    .add_local_dir(f"{DATA}/copied", "/opt/copied", copy=True, ignore=["*.skip", "cache"])
    .add_local_file(f"{DATA}/copied/tool.sh", "/bin/nodal-tool.sh", copy=True)
    .run_commands("cat /opt/copied/a.txt > /opt/after.txt")
)

mounted_image = (
    modal.Image.debian_slim()
    .add_local_file(f"{DATA}/single.txt", "/srv/single.txt")
    .add_local_dir(f"{DATA}/mounted", "/srv/mounted", ignore=lambda p: p.name.startswith("x"))
    .add_local_python_source("nodal_lf_helper")
)


def _tree(root: str) -> dict[str, str]:
    base = Path(root)
    return {str(p.relative_to(base)): p.read_text() for p in sorted(base.rglob("*")) if p.is_file()}


@app.function(image=copied_image)
def read_copied() -> dict:
    return {
        "files": _tree("/opt/copied"),
        "after": Path("/opt/after.txt").read_text(),
        "tool": subprocess.run(["nodal-tool.sh"], capture_output=True, text=True).stdout,
        "bin_is_link": os.path.islink("/bin"),
    }


@app.function(image=mounted_image)
def read_mounted() -> dict:
    import nodal_lf_helper
    from nodal_lf_helper import sub

    return {
        "single": Path("/srv/single.txt").read_text(),
        "mounted": _tree("/srv/mounted"),
        "value": nodal_lf_helper.VALUE,
        "sub": sub.NAME,
        "helper_files": sorted(n for n in os.listdir("/root/nodal_lf_helper") if n != "__pycache__"),
    }
