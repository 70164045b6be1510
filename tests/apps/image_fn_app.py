"""A function whose image is prepared by `Image.run_function` (with a build-time secret)."""

import os
from pathlib import Path

import modal

app = modal.App("nodal-test-image-fn")

GREETING = "prepared at build time"


def prepare(name: str, repeat: int = 1) -> None:
    import os

    os.makedirs("/opt/prepared", exist_ok=True)
    with open("/opt/prepared/data.txt", "w") as f:
        f.write(" ".join([GREETING] * repeat) + f" for {name}; token={os.environ.get('PREP_TOKEN', 'missing')}")


image = (
    modal.Image.debian_slim()
    .run_function(prepare, args=("nodal",), kwargs={"repeat": 2},
                  secrets=[modal.Secret.from_dict({"PREP_TOKEN": "tok"})])
    .shell(["/bin/bash", "-c"])
    .run_commands("echo ${BASH_VERSION:+bash} > /opt/prepared/shell.txt")
)


@app.function(image=image)
def read_prepared() -> dict:
    return {
        "data": Path("/opt/prepared/data.txt").read_text(),
        "shell": Path("/opt/prepared/shell.txt").read_text().strip(),
        "token_env": os.environ.get("PREP_TOKEN"),
    }


@app.function(image=image)
def imports_raise() -> bool:
    """True when `image.imports()` lets an ImportError through (in containers, not locally)."""
    try:
        with image.imports():
            import nodal_no_such_module  # noqa: F401
    except ImportError:
        return True
    return False
