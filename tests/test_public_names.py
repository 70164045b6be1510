"""Public names of the reference that are plain objects: `modal.FilePatternMatcher` and
`modal.Proxy`, and every name `modal.__all__` lists resolving."""

from __future__ import annotations

from pathlib import Path

import pytest

import modal


def test_every_listed_name_resolves():
    for name in modal.__all__:
        assert getattr(modal, name) is not None, name


def test_file_pattern_matcher_as_the_reference_shows():
    matcher = modal.FilePatternMatcher("*.py")
    assert matcher(Path("foo.py"))
    assert not (~matcher)(Path("foo.py"))
    nested = modal.FilePatternMatcher("**/*.txt", "!keep/*.txt")
    assert nested(Path("a/b/c.txt")) and not nested(Path("keep/c.txt")) and not nested(Path("a/b.py"))
    with pytest.raises(ValueError, match="exclusion"):
        modal.FilePatternMatcher("!")


def test_file_pattern_matcher_reads_its_file_on_first_use(tmp_path):
    ignore = tmp_path / "ignorefile"
    matcher = modal.FilePatternMatcher.from_file(ignore)  # not there yet: read lazily
    inverted = ~matcher
    ignore.write_text("# data files\n*.json\n")
    assert matcher(Path("data.json")) and not matcher(Path("main.py"))
    assert inverted(Path("main.py")) and not inverted(Path("data.json"))


def test_a_proxy_lookup_says_a_nodal_server_has_none():
    with pytest.raises(modal.exception.NotFoundError, match="no static-IP proxies"):
        modal.Proxy.from_name("my-proxy")


def test_app_run_show_progress_is_deprecated():
    app = modal.App("nodal-test-show-progress")
    with pytest.warns(modal.exception.DeprecationError, match="show_progress"):
        app.run(show_progress=False)  # made, not entered: nothing runs
