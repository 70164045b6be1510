"""A function whose image is pulled from a (test) registry with credentials, plus a build secret.

The registry address and credentials come from $NODAL_TEST_REGISTRY_TAG / _USER / _PASSWORD (set
by the test); inside a container they are unset and the image is only described, never built.
"""

import hashlib
import os
from pathlib import Path

import modal

TAG = os.environ.get("NODAL_TEST_REGISTRY_TAG", "127.0.0.1:1/unset/unset:1")
BUILD_TOKEN = os.environ.get("NODAL_TEST_BUILD_TOKEN", "unset")

app = modal.App("nodal-test-image-registry")

image = (
    modal.Image.from_registry(
        TAG,
        secret=modal.Secret.from_dict({
            "REGISTRY_USERNAME": os.environ.get("NODAL_TEST_REGISTRY_USER", "u"),
            "REGISTRY_PASSWORD": os.environ.get("NODAL_TEST_REGISTRY_PASSWORD", "p"),
        }),
    )
    .run_commands(
        'printf %s "$BUILD_TOKEN" | sha256sum | cut -d" " -f1 > /token.sha',
        secrets=[modal.Secret.from_dict({"BUILD_TOKEN": BUILD_TOKEN})],
    )
    .env({"IMAGE_VAR": "set"})
)


@app.function(image=image)
def inspect() -> dict:
    return {
        "token_sha": Path("/token.sha").read_text().strip(),
        "token_env": os.environ.get("BUILD_TOKEN"),
        "image_var": os.environ.get("IMAGE_VAR"),
        "pulled": Path("/etc/debian_version").exists(),
    }


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
