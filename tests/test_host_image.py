"""`nodal.ext.host_image()`: the host's `/` as a read-only image base (for on-prem GPU hosts
whose CUDA stack lives on the host), on the session's real server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def host_app(nodal_server, require_containers):
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("needs /usr/bin/python3 on the host")
    from apps.host_image_app import app

    with app.run():
        yield


def test_host_filesystem_is_the_image_and_writes_stay_private(host_app):
    import tempfile

    from apps.host_image_app import look

    with tempfile.TemporaryDirectory(dir="/var/tmp") as host_dir:  # not /tmp: containers get their own
        probe = Path(host_dir) / "written-by-container.txt"
        result = look.remote(os.environ["NODAL_HOME"], str(probe))
        assert not probe.exists(), "a container's write reached the host"
    assert result["os_release"] == Path("/etc/os-release").read_text()
    assert result["probe"] == "from the container"
    assert result["nodal_home"] == [], "the server's own state must be hidden from containers"


def test_build_steps_add_layers_on_top_of_the_host(host_app):
    from apps.host_image_app import layered_file

    assert layered_file.remote() == "layered"
    assert not Path("/opt/nodal-host-image-test.txt").exists()


def test_host_image_rejects_a_relative_python():
    import modal
    from nodal.ext import host_image

    with pytest.raises(modal.exception.InvalidError, match="absolute path"):
        host_image(python="python3")
