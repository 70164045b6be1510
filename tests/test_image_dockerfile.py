"""Dockerfiles: `Image.from_dockerfile`, the full instruction set of `dockerfile_commands`,
`Image.entrypoint` / `Image.shell`, built for real on an image pulled from a loopback registry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest_images import OciRegistry

import modal
from modal.exception import InvalidError
from nodal.images.builder import Step

pytest_plugins = ["conftest_images"]


def test_instructions_become_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    base = modal.Image.debian_slim()
    with pytest.warns(UserWarning, match="EXPOSE has no effect"):
        image = base.dockerfile_commands(
            "ARG VERSION=1.0",
            "ENV APP_HOME=/srv/app-${VERSION}",
            "WORKDIR $APP_HOME",
            "RUN echo building $VERSION",
            "USER nobody",
            'ENTRYPOINT ["/bin/entry", "--flag"]',
            "CMD python3 -m app",
            'SHELL ["/bin/bash", "-c"]',
            'LABEL org.x="a b" other=2',
            "EXPOSE 8000",
        )
    steps = image._steps()
    by_kind = {s.kind: s.spec for s in steps}
    assert [s.kind for s in steps] == ["debian_slim", "env", "workdir", "run_commands", "user",
                                       "entrypoint", "cmd", "shell", "labels"]
    assert by_kind["env"] == {"vars": {"APP_HOME": "/srv/app-1.0"}}
    assert by_kind["workdir"] == {"path": "/srv/app-1.0"}
    assert by_kind["run_commands"] == {"commands": ["echo building $VERSION"], "build_env": {"VERSION": "1.0"}}
    assert by_kind["user"] == {"user": "nobody"}
    assert by_kind["entrypoint"] == {"args": ["/bin/entry", "--flag"]}
    assert by_kind["cmd"] == {"args": ["/bin/sh", "-c", "python3 -m app"]}
    assert by_kind["shell"] == {"args": ["/bin/bash", "-c"]}
    assert by_kind["labels"] == {"labels": {"org.x": "a b", "other": "2"}}
    assert base.entrypoint(["/x"])._steps()[-1] == Step("entrypoint", {"args": ["/x"]})
    assert base.shell(["/bin/bash", "-c"])._steps()[-1] == Step("shell", {"args": ["/bin/bash", "-c"]})
    # gpu= on build steps is validated, canonical and part of the step identity
    assert base.run_commands("true", gpu="h100")._steps()[-1].spec == {"commands": ["true"], "gpu": "H100"}
    with pytest.raises(InvalidError, match="run_commands"):
        base.run_commands("true", gpu="no-such-gpu")


@pytest.mark.parametrize("line, match", [
    ("FROM debian", "multi-stage"),
    ("ONBUILD RUN true", "ONBUILD"),
    ("FROBNICATE x", "FROBNICATE"),
    ("ADD ftp://example.com/x /x", "only http"),
    ("ADD missing-pkg.tar.gz /x", "not found in the build context"),
    ("COPY --link a b", "unsupported flag"),
    ("COPY --chmod=rwx a b", "unsupported flag"),
    ("RUN --mount=type=cache,target=/c true", "RUN flags"),
    ("SHELL /bin/bash -c", "JSON"),
    ("ARG 1bad", "ARG"),
])
def test_bad_instructions_name_themselves(line: str, match: str):
    with pytest.raises(InvalidError, match=match):
        modal.Image.debian_slim().dockerfile_commands(line)


def test_from_dockerfile_errors(tmp_path: Path):
    with pytest.raises(InvalidError, match="cannot read the Dockerfile"):
        modal.Image.from_dockerfile(tmp_path / "missing")
    cases = {
        "RUN true\n": "must start with FROM",
        "FROM scratch\n": "scratch",
        "FROM --platform=linux/arm64 a:1\n": "amd64",
    }
    for text, match in cases.items():
        (tmp_path / "Dockerfile").write_text(text)
        with pytest.raises(InvalidError, match=match):
            modal.Image.from_dockerfile(tmp_path / "Dockerfile")
    (tmp_path / "Dockerfile").write_text("ARG BASE=python\nARG TAG=3.11\nFROM ${BASE}:${TAG}\nRUN echo $BASE\n")
    image = modal.Image.from_dockerfile(tmp_path / "Dockerfile", build_args={"TAG": "3.13"})
    steps = image._steps()
    assert steps[0] == Step("from_registry", {"tag": "python:3.13"})
    assert steps[1].spec == {"commands": ["echo $BASE"]}  # global ARGs are not in scope after FROM


def publish_base(registry: OciRegistry, base_layer_tar: Path) -> str:
    registry.add_image("nodal/debian", "py", [base_layer_tar],
                       {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["python3"]})
    return f"{registry.host}/nodal/debian:py"


def test_from_dockerfile_builds(image_builder, base_layer_tar: Path, oci_registry: OciRegistry,
                                tmp_path: Path, scratch_root: Path):
    from test_images import _run_in

    from nodal.store.blobs.local_dir import LocalDirBlobStore

    tag = publish_base(oci_registry, base_layer_tar)
    ctx = tmp_path / "ctx"
    (ctx / "src").mkdir(parents=True)
    (ctx / "src" / "app.py").write_text("print('app')\n")
    (ctx / "src" / "secret.key").write_text("do not copy")
    (ctx / ".dockerignore").write_text("**/*.key\n")
    (ctx / "Dockerfile").write_text(f"""\
# a single-stage Dockerfile
ARG REG
FROM {tag}
ARG GREETING=hello
ENV APP=/app \\
    MODE=prod
WORKDIR $APP
COPY src/ ./src/
SHELL ["/bin/bash", "-c"]
RUN [[ -n "$BASH_VERSION" ]] && echo "$GREETING from bash" > shell.txt
USER nobody
RUN id -un > /var/tmp/who.txt
USER root
LABEL maintainer=nodal
ENTRYPOINT ["/usr/bin/env"]
CMD ["python3", "src/app.py"]
""")
    image = modal.Image.from_dockerfile(ctx / "Dockerfile", context_dir=ctx, build_args={"GREETING": "hi"})
    blobs = LocalDirBlobStore(image_builder.blobs_dir)
    for local in image._local_files(copy=True).values():
        blobs.put(local.read_bytes())
    log: list[str] = []
    built = asyncio.run(image_builder.build(image._steps(), log.append))
    assert built.entrypoint == ["/usr/bin/env"] and built.cmd == ["python3", "src/app.py"]
    assert built.shell == ["/bin/bash", "-c"] and built.user == "root"
    assert built.labels == {"maintainer": "nodal"} and built.workdir == "/app"
    assert built.env["MODE"] == "prod" and "GREETING" not in built.env  # ARGs are build-time only
    code, lines = asyncio.run(_run_in(
        built, ["sh", "-c", "cat shell.txt /var/tmp/who.txt; ls src; python3 src/app.py"], scratch_root))
    assert code == 0, (lines, log)
    assert lines == ["hi from bash", "nobody", "app.py", "app"]


def test_image_shell_applies_to_run_commands(image_builder, base_image, scratch_root: Path):
    from test_images import _run_in

    image = (modal.Image.debian_slim("3.11").shell(["/bin/bash", "-c"])
             .run_commands("echo ${BASH_VERSION:+bash} > /which.txt").entrypoint(["/bin/true"]))
    built = asyncio.run(image_builder.build(image._steps()))
    assert built.entrypoint == ["/bin/true"] and built.shell == ["/bin/bash", "-c"]
    code, lines = asyncio.run(_run_in(built, ["cat", "/which.txt"], scratch_root))
    assert code == 0 and lines == ["bash"]


def test_from_registry_options_become_steps():
    image = modal.Image.from_registry("ubuntu:22.04", add_python="3.11.4",
                                      setup_dockerfile_commands=["RUN echo setup", "ENV A=1"])
    assert [(s.kind, s.spec) for s in image._steps()] == [
        ("from_registry", {"tag": "ubuntu:22.04"}),
        ("add_python", {"python_version": "3.11"}),
        ("run_commands", {"commands": ["echo setup"]}),
        ("env", {"vars": {"A": "1"}}),
    ]
    secret = modal.Secret.from_dict({"REGISTRY_USERNAME": "u", "REGISTRY_PASSWORD": "p"})
    private = modal.Image.from_registry("ghcr.io/o/i:1", secret=secret)
    assert private._step_secrets() == [[secret]]
    gcp = modal.Image.from_gcp_artifact_registry("us-docker.pkg.dev/p/r/i:1", secret=secret)
    assert gcp._steps()[0].spec == {"tag": "us-docker.pkg.dev/p/r/i:1", "method": "from_gcp_artifact_registry"}
    with pytest.raises(InvalidError, match="unexpected"):
        modal.Image.from_registry("x:1", bogus=True)
    with pytest.raises(InvalidError, match="add_python"):
        modal.Image.from_registry("x:1", add_python="three")


def test_copy_flags_and_add(image_builder, base_image, tmp_path: Path, scratch_root: Path,
                            monkeypatch: pytest.MonkeyPatch):
    """COPY --chown/--chmod, ADD of a local archive (extracted) and of a URL (a loopback server)."""
    import http.server
    import tarfile
    import threading
    from functools import partial

    from test_images import _run_in

    from nodal.store.blobs.local_dir import LocalDirBlobStore

    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf.ini").write_text("[x]")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "inside.txt").write_text("from the archive")
    with tarfile.open(tmp_path / "pkg.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "pkg" / "inside.txt", "pkg/inside.txt")
    served = tmp_path / "served"
    served.mkdir()
    (served / "remote.txt").write_text("downloaded")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/remote.txt"
        image = modal.Image.debian_slim("3.11").dockerfile_commands(
            "COPY --chown=nobody:nogroup --chmod=640 conf.ini /etc/app/",
            "ADD pkg.tar.gz /opt/unpacked",
            f"ADD {url} /opt/dl/",
        )
        blobs = LocalDirBlobStore(image_builder.blobs_dir)
        for local in image._local_files(copy=True).values():
            blobs.put(local.read_bytes())
        log: list[str] = []
        built = asyncio.run(image_builder.build(image._steps(), log.append))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    code, lines = asyncio.run(_run_in(built, ["sh", "-c",
        "stat -c '%U:%G %a' /etc/app/conf.ini; cat /opt/unpacked/pkg/inside.txt; echo; "
        "cat /opt/dl/remote.txt; echo; test -e /.nodal-add && echo staged-left || echo clean"], scratch_root))
    assert code == 0, (lines, log)
    assert lines == ["nobody:nogroup 640", "from the archive", "downloaded", "clean"]


def test_multi_stage_steps(tmp_path: Path):
    (tmp_path / "Dockerfile").write_text(
        "FROM a:1 AS Build\nRUN make\nFROM b:2\nCOPY --from=build /out /app/\nCOPY --from=0 /x /y\n"
        "COPY --from=alpine:3 /etc/alpine-release /r\n")
    image = modal.Image.from_dockerfile(tmp_path / "Dockerfile")
    steps = image._steps()
    assert [s.kind for s in steps] == ["from_registry", "copy_from_image", "copy_from_image", "copy_from_image"]
    build_chain = [{"kind": "from_registry", "spec": {"tag": "a:1"}},
                   {"kind": "run_commands", "spec": {"commands": ["make"]}}]
    assert steps[1].spec == {"stage": build_chain, "sources": ["/out"], "dest": "/app/"}
    assert steps[2].spec["stage"] == build_chain and steps[2].spec["dest"] == "/y"
    assert steps[3].spec["stage"] == [{"kind": "from_registry", "spec": {"tag": "alpine:3"}}]


def test_multi_stage_build(image_builder, base_layer_tar: Path, oci_registry: OciRegistry, tmp_path: Path,
                           scratch_root: Path):
    from test_images import _run_in

    tag = publish_base(oci_registry, base_layer_tar)
    (tmp_path / "Dockerfile").write_text(f"""\
FROM {tag} AS build
RUN mkdir -p /out/sub && echo built > /out/app.txt && echo deep > /out/sub/deep.txt \\
    && ln -s app.txt /out/link.txt
RUN rm /out/sub/deep.txt && echo replaced > /out/sub/new.txt

FROM {tag}
WORKDIR /srv
COPY --from=build /out ./app/
COPY --from=0 /out/app.txt /single/renamed.txt
COPY --from=build --chown=nobody:nogroup /out/app.txt /owned/
""")
    image = modal.Image.from_dockerfile(tmp_path / "Dockerfile", context_dir=tmp_path)
    log: list[str] = []
    built = asyncio.run(image_builder.build(image._steps(), log.append))
    code, lines = asyncio.run(_run_in(built, ["sh", "-c",
        "cd /srv/app && find . | sort | tr '\\n' ' '; echo; readlink link.txt; cat /single/renamed.txt; "
        "stat -c '%U' /owned/app.txt; test -e /out && echo leaked || echo clean"], scratch_root))
    assert code == 0, (lines, log)
    assert lines == [". ./app.txt ./link.txt ./sub ./sub/new.txt ", "app.txt", "built", "nobody", "clean"]
    # the build stage's layers are cached like any other: a rebuild runs nothing
    log2: list[str] = []
    assert asyncio.run(image_builder.build(image._steps(), log2.append)) == built and log2 == []
