"""A function whose image, secrets and volumes `modal shell file.py::fn` must reproduce."""

import modal

app = modal.App("nodal-test-shell")
image = modal.Image.debian_slim().env({"SHELL_IMAGE_VAR": "from-image"})


@app.function(image=image, secrets=[modal.Secret.from_dict({"SHELL_SECRET": "from-secret"})])
def fn() -> None:
    pass
