"""Image.add_local_* (copy=True layers, copy=False start-time files), requirements/pyproject installs."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

import modal
from modal.exception import DeprecationError, InvalidError
from nodal.images.identity import layer_ids
from nodal.images.local_files import FilePatternMatcher

# ---------- SDK: pure descriptions, no server ----------


def test_bad_uses_raise_invalid_error(tmp_path: Path):
    base = modal.Image.debian_slim()
    with pytest.raises(InvalidError, match="absolute"):
        base.add_local_file(tmp_path / "x", "relative/x")
    with pytest.raises(InvalidError, match="ignore"):
        base.add_local_dir(tmp_path, "/d", ignore="*.txt")  # type: ignore[arg-type]
    mounted = base.add_local_dir(tmp_path, "/d")
    for extend in (
        lambda i: i.pip_install("six"),
        lambda i: i.run_commands("true"),
        lambda i: i.env({"A": "1"}),
        lambda i: i.add_local_file(tmp_path / "x", "/x", copy=True),
    ):
        with pytest.raises(InvalidError, match=r"add_local_dir\(.*copy=True"):
            extend(mounted)
    # more start-time files after start-time files are fine; so are build steps after copy=True
    mounted.add_local_file(tmp_path / "x", "/x")
    base.add_local_dir(tmp_path, "/d", copy=True).run_commands("true")
    # missing files are reported when the image is used (not when described: containers import it)
    missing = base.add_local_file(tmp_path / "missing.txt", "/m.txt", copy=True)
    with pytest.raises(InvalidError, match="missing.txt"):
        missing._steps()
    with pytest.raises(InvalidError, match="no_such_module_xyz"):
        base.add_local_python_source("no_such_module_xyz")._local_files(copy=False)


def test_copy_identity_follows_content(tmp_path: Path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.txt").write_text("one")
    image = modal.Image.debian_slim().add_local_dir(tmp_path / "d", "/data", copy=True).run_commands("true")
    first = layer_ids(image._steps())
    assert image._steps()[1].kind == "copy_files"
    assert layer_ids(image._steps()) == first  # deterministic
    (tmp_path / "d" / "f.txt").write_text("two")
    second = layer_ids(image._steps())
    assert second[0] == first[0] and second[1] != first[1] and second[2] != first[2]
    # start-time files are not build steps at all
    mounted = modal.Image.debian_slim().add_local_dir(tmp_path / "d", "/data")
    assert [s.kind for s in mounted._steps()] == ["debian_slim"]
    assert mounted._local_files(copy=False) == {"/data/f.txt": tmp_path / "d" / "f.txt"}


def test_file_pattern_matcher():
    m = FilePatternMatcher("*.pyc", "build", "**/secret.txt", "!keep.pyc")
    assert m(Path("a.pyc")) and not m(Path("keep.pyc")) and not m(Path("sub/a.pyc"))
    assert m(Path("build/x/y.txt")) and m(Path("a/b/secret.txt")) and m(Path("secret.txt"))
    assert not m(Path("src/a.py"))
    inverted = ~FilePatternMatcher("**/*.py")
    assert inverted(Path("data.json")) and not inverted(Path("pkg/mod.py"))


def test_deprecated_copy_local_aliases(tmp_path: Path):
    (tmp_path / "f.txt").write_text("x")
    base = modal.Image.debian_slim().workdir("/app")
    with pytest.warns(DeprecationError, match="add_local_file"):
        old = base.copy_local_file(tmp_path / "f.txt")
    assert old._steps() == base.add_local_file(tmp_path / "f.txt", "/app/", copy=True)._steps()
    assert old._steps()[-1].spec["files"][0][0] == "/app/f.txt"
    with pytest.warns(DeprecationError, match="add_local_dir"):
        old_dir = base.copy_local_dir(tmp_path, "sub", ignore=["*.md"])
    assert old_dir._steps() == base.add_local_dir(tmp_path, "/app/sub", copy=True)._steps()


def test_pip_install_from_requirements_and_pyproject(tmp_path: Path):
    (tmp_path / "base.txt").write_text("requests>=2  # http\n")
    (tmp_path / "requirements.txt").write_text(
        "# pinned\nsix==1.16.0\n-r base.txt\n\n--extra-index-url https://example.invalid/simple\n"
        "attrs \\\n  >=23\n"
    )
    base = modal.Image.debian_slim()
    image = base.pip_install_from_requirements(str(tmp_path / "requirements.txt"), pre=True)
    expected = base.pip_install(
        "six==1.16.0", "requests>=2", "attrs >=23", pre=True,
        extra_options="--extra-index-url https://example.invalid/simple",
    )
    assert image._steps() == expected._steps()
    (tmp_path / "requirements.txt").write_text("six==1.17.0\n")
    changed = base.pip_install_from_requirements(str(tmp_path / "requirements.txt"))
    assert changed._steps()[-1].spec["packages"] == ["six==1.17.0"]
    with pytest.raises(InvalidError, match="cannot read"):
        base.pip_install_from_requirements(str(tmp_path / "nope.txt"))

    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["six==1.16.0"]\n'
        '[project.optional-dependencies]\ntest = ["pytest"]\ndocs = ["sphinx"]\n'
    )
    py = base.pip_install_from_pyproject(str(tmp_path / "pyproject.toml"), optional_dependencies=["test"])
    assert py._steps() == base.pip_install("six==1.16.0", "pytest")._steps()
    (tmp_path / "poetry.toml").write_text('[tool.poetry.dependencies]\nsix = "*"\n')
    with pytest.raises(InvalidError, match="project.dependencies"):
        base.pip_install_from_pyproject(str(tmp_path / "poetry.toml"))


# ---------- real server, real containers ----------


def _layer_records() -> set[str]:
    return {p.name for p in (Path(os.environ["NODAL_HOME"]) / "images" / "layers").glob("*.json")}


@pytest.fixture(scope="module")
def local_data(tmp_path_factory: pytest.TempPathFactory, require_containers, nodal_server):
    data = tmp_path_factory.mktemp("local-files")
    files = {
        "copied/a.txt": "A1",
        "copied/sub/b.txt": "B",
        "copied/c.skip": "skipped",
        "copied/cache/x.txt": "skipped",
        "copied/tool.sh": "#!/bin/sh\necho tool-ran\n",
        "single.txt": "single-1",
        "mounted/m.txt": "M1",
        "mounted/deep/n.txt": "N",
        "mounted/xignored.txt": "skipped",
        "pysrc/nodal_lf_helper/__init__.py": "VALUE = 'v1'\n",
        "pysrc/nodal_lf_helper/sub.py": "NAME = 'sub'\n",
        "pysrc/nodal_lf_helper/data.json": "{}",
    }
    for rel, text in files.items():
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_text(text)
    (data / "copied/tool.sh").chmod(0o755)
    os.environ["NODAL_TEST_LOCAL_FILES_DIR"] = str(data)
    sys.path.insert(0, str(data / "pysrc"))
    yield data
    sys.path.remove(str(data / "pysrc"))
    os.environ.pop("NODAL_TEST_LOCAL_FILES_DIR", None)


def _run(fn_name: str) -> dict:
    from apps import local_files_app

    with local_files_app.app.run():
        return getattr(local_files_app, fn_name).remote()


def test_copy_true_files_are_a_layer_and_rebuild_on_change(local_data: Path):
    first = _run("read_copied")
    assert first["files"] == {"a.txt": "A1", "sub/b.txt": "B", "tool.sh": "#!/bin/sh\necho tool-ran\n"}
    assert first["after"] == "A1"  # later build steps see the copied files
    assert first["tool"] == "tool-ran\n" and first["bin_is_link"]  # copied through /bin -> usr/bin
    before = _layer_records()
    (local_data / "copied/a.txt").write_text("A2")
    second = _run("read_copied")
    assert second["files"]["a.txt"] == "A2" and second["after"] == "A2"
    built = _layer_records() - before
    assert len(built) == 3  # the changed copy layer and everything above it were rebuilt


def test_copy_false_files_are_added_at_start_without_rebuild(local_data: Path):
    first = _run("read_mounted")
    assert first == {
        "single": "single-1",
        "mounted": {"m.txt": "M1", "deep/n.txt": "N"},
        "value": "v1",
        "sub": "sub",
        "helper_files": ["__init__.py", "sub.py"],  # NON_PYTHON_FILES: data.json left out
    }
    before = _layer_records()
    (local_data / "single.txt").write_text("single-2")
    (local_data / "pysrc/nodal_lf_helper/__init__.py").write_text("VALUE = 'v2'\n")
    second = _run("read_mounted")
    assert second["single"] == "single-2" and second["value"] == "v2"
    assert _layer_records() == before  # nothing was built


# ---------- dockerfile_commands (builder + a real container) ----------


def test_dockerfile_commands_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.txt").write_text("F")
    base = modal.Image.debian_slim()
    image = base.dockerfile_commands(
        "# comment", "WORKDIR /w", "ENV A=1 B='two words'", 'RUN ["echo", "a b"]', "COPY f.txt ./"
    )
    expected = (
        base.workdir("/w").env({"A": "1", "B": "two words"}).run_commands("echo 'a b'")
        .add_local_file(tmp_path / "f.txt", "/w/f.txt", copy=True)
    )
    assert image._steps() == expected._steps()
    for bad in ("FROM debian", "COPY --from=x --chmod=644 a b", "ONBUILD RUN true", "COPY onlyone"):
        with pytest.raises(InvalidError):
            base.dockerfile_commands(bad)
    with pytest.raises(InvalidError, match="missing"):
        base.dockerfile_commands("COPY missing /m")._steps()


def test_dockerfile_commands_build(image_builder, base_image, scratch_root: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch):
    from test_images import _run_in

    from nodal.store.blobs.local_dir import LocalDirBlobStore

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ctx" / "sub").mkdir(parents=True)
    (tmp_path / "ctx" / "one.txt").write_text("one")
    (tmp_path / "ctx" / "sub" / "two.txt").write_text("two")
    (tmp_path / "ctx" / "notes.md").write_text("ignored")
    (tmp_path / ".dockerignore").write_text("**/*.md\n")
    image = modal.Image.debian_slim("3.11").dockerfile_commands(
        """
        WORKDIR /app
        COPY ctx/ ./data/
        ENV GREETING=hello
        RUN cat data/one.txt data/sub/two.txt > joined.txt && \\
            echo $GREETING >> joined.txt
        """
    )
    blobs = LocalDirBlobStore(image_builder.blobs_dir)
    for local in image._local_files(copy=True).values():
        blobs.put(local.read_bytes())
    built = asyncio.run(image_builder.build(image._steps()))
    code, lines = asyncio.run(
        _run_in(built, ["sh", "-c", "pwd; cat joined.txt; ls -R data | tr '\\n' ' '"], scratch_root)
    )
    assert code == 0, lines
    assert lines == ["/app", "onetwohello", "data: one.txt sub  data/sub: two.txt "]  # notes.md ignored
