"""Volume.reload() refusing to run with open files, and Volume version= / label= handling."""

from __future__ import annotations

import io
import uuid

import pytest

import modal
from modal.exception import DeprecationError, InvalidError, NotFoundError
from nodal.proto import api_pb2


def test_reload_fails_clearly_with_open_files(nodal_server):
    from apps.volume_reload_app import app, reload_with_open_file, vol

    p = f"t-{uuid.uuid4().hex[:10]}/f.txt"
    with vol.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"v1"), p)
    with app.run():
        out = reload_with_open_file.remote(p)
    assert "cannot run while files in the volume are open" in out["open"] and f"/data/{p}" in out["open"]
    assert "Close them" in out["open"]
    assert f"/other mount/{p}" in out["child"]  # any process in the container, any mount path of the volume
    assert out["closed"] == "v1"  # once closed, reload works


def test_version_parameter(nodal_server):
    name = f"vol-version-{uuid.uuid4().hex[:8]}"
    for ok in (None, 0, 1, 2, api_pb2.VOLUME_FS_VERSION_V2):
        modal.Volume.from_name(name, create_if_missing=True, version=ok)
    vol = modal.Volume.from_name(name, create_if_missing=True, version=api_pb2.VOLUME_FS_VERSION_V1)
    assert vol.listdir("/") == []
    for bad in (3, -1, "2", True, 1.5):
        with pytest.raises(InvalidError, match="version must be 1 or 2"):
            modal.Volume.from_name(name, version=bad)
        with pytest.raises(InvalidError, match="version must be 1 or 2"):
            modal.Volume.ephemeral(version=bad)
    with modal.Volume.ephemeral(version=2) as eph:
        assert eph.listdir("/") == []
    with pytest.warns(DeprecationError, match="lookup"):
        assert modal.Volume.lookup(name, version=2).object_id == vol.hydrate().object_id
    with pytest.warns(DeprecationError, match="label"):
        assert modal.Volume.from_name(label=name).hydrate().object_id == vol.object_id
    with pytest.warns(DeprecationError, match="label"):
        modal.Volume.delete(label=name)
    with pytest.raises(NotFoundError):
        modal.Volume.from_name(name).hydrate()
    with pytest.raises(InvalidError, match="only `name`"):
        modal.Volume.from_name("a", label="b")
