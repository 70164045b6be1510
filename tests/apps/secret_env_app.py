"""Functions that use a named secret (its name from NODAL_TEST_SECRET_NAME, read at import), for
the key-rotation and leak tests: one reads its variables, one fails, one runs on an image whose
build step had the secret too. None of them prints a value."""

import os

import modal

SECRET_NAME = os.environ.get("NODAL_TEST_SECRET_NAME", "nodal-test-secret-env")
KEY = "LEAK_CANARY"

app = modal.App("nodal-test-secret-env")
secret = modal.Secret.from_name(SECRET_NAME)

# The build step checks the value is there (and writes only its length), never echoing it.
built_image = modal.Image.debian_slim().run_commands(
    f'test -n "${KEY}" && echo "build step saw a value of ${{#{KEY}}} characters" '
    f'&& echo "${{#{KEY}}}" > /opt/secret-length.txt',
    secrets=[secret],
)


@app.function(secrets=[secret])
def read_env(keys: list) -> dict:
    return {k: os.environ.get(k) for k in keys}


@app.function(secrets=[secret])
def digest() -> str:
    """The sha256 of the secret's value: proves it arrived without sending it back."""
    import hashlib

    return hashlib.sha256(os.environ.get(KEY, "").encode()).hexdigest()


@app.function(secrets=[secret])
def fail_with_secret() -> None:
    assert os.environ.get(KEY), "the secret is missing"
    raise RuntimeError("failing on purpose with the secret in the environment")


@app.function(image=built_image, secrets=[secret])
def built_length() -> dict:
    with open("/opt/secret-length.txt") as f:
        return {"length_at_build": int(f.read().strip()), "length_now": len(os.environ.get(KEY, ""))}


@app.function()
def readable(paths: list) -> dict:
    """Which of these host paths a container can read (the server's key files must not be)."""
    found = {}
    for p in paths:
        try:
            with open(p, "rb") as f:
                found[p] = len(f.read()) > 0
        except OSError:
            found[p] = False
    return found
