"""Errors the image builder raises.

`ImageBuildError` is what a user can cause (a bad Python version, a failing
`pip install`, a missing package); its message says which step failed and what
to change. The server maps it onto `modal.exception.InvalidError` /
`RemoteError` for the client.
"""

from __future__ import annotations


class ImageBuildError(Exception):
    """A build step could not be carried out; the message names the step and the cause."""
