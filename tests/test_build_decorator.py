"""The deprecated @modal.build: a class's build methods run when its image is built, and what they
write is in every container of the class."""

from __future__ import annotations

import pytest

import modal
from modal.exception import InvalidError

pytestmark = pytest.mark.usefixtures("require_containers")


def test_build_methods_write_into_the_image(nodal_server):
    from apps.build_app import Weights, app

    with app.run():
        report = Weights().report.remote()
    # index ran at build (it read download's file) and again at start (enter), in one image file
    assert report == {"loaded": "weights v1", "index_runs": 2}


def test_build_is_deprecated_and_validated():
    with pytest.warns(modal.exception.DeprecationError, match="modal.build is deprecated"):
        modal.build()
    with pytest.raises(InvalidError, match="parentheses"):
        modal.build(lambda self: None)
    with pytest.raises(InvalidError, match="timeout"), pytest.warns(modal.exception.DeprecationError):
        modal.build(timeout=0)


def test_a_parameter_without_default_is_refused_at_decoration():
    app = modal.App("nodal-test-build-params")
    with pytest.warns(modal.exception.DeprecationError):
        decorator = modal.build()

    class Needs:
        size: int = modal.parameter()

        @decorator
        def fetch(self):
            pass

    with pytest.raises(InvalidError, match="give parameter 'size' a default"):
        app.cls()(Needs)
