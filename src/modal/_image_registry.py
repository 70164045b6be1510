"""Images pulled from a container registry: `Image.from_registry`, `from_gcp_artifact_registry`,
`from_aws_ecr`.

The base step records only the reference and, for GCP / ECR, which credential scheme the
server must use (the secret supplies the credentials at build time); `add_python` and
`setup_dockerfile_commands` become ordinary steps on top of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modal._image_specs import _check_secrets, _force_build_default, _invalid
from nodal.images.builder import Step

if TYPE_CHECKING:
    from modal.image import Image


def registry_image(
    method: str, tag: Any, secret: Any, setup: Any, force_build: bool, add_python: Any, kwargs: dict
) -> Image:
    """The image `tag` names, pulled with `secret`'s credentials (`method` names the public call)."""
    from modal.image import Image  # here, not at the top: modal.image imports this module

    if kwargs:
        raise _invalid(f"Image.{method}: unexpected arguments {sorted(kwargs)}")
    if not isinstance(tag, str) or not tag.strip():
        raise _invalid(f"Image.{method}: tag must be an image reference like 'python:3.11-slim', got {tag!r}")
    secrets = _check_secrets(method, [secret] if secret is not None else [])
    if method != "from_registry" and not secrets:
        raise _invalid(f"Image.{method}: pass secret= with the registry credentials")
    spec = {"tag": tag.strip()}
    if method != "from_registry":
        spec["method"] = method
    force = bool(force_build) or _force_build_default()
    image = Image._from_steps([Step("from_registry", spec, force)], [tuple(secrets)])
    if add_python is not None:
        if not isinstance(add_python, str) or len(add_python.split(".")) < 2:
            raise _invalid(f"Image.{method}: add_python must be a version like '3.11', got {add_python!r}")
        version = ".".join(add_python.split(".")[:2])
        image = image._extend("add_python", {"python_version": version}, force_build)
    if setup:
        if not isinstance(setup, list):
            raise _invalid(f"Image.{method}: setup_dockerfile_commands must be a list of strings")
        image = image.dockerfile_commands(setup, force_build=force_build)
    return image
