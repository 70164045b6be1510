"""Dockerfile parsing for `Image.dockerfile_commands` / `Image.from_dockerfile` (pure, no I/O).

`parse(lines)` turns Dockerfile text into `Instruction`s (comments dropped, `\\`
continuations joined, the instruction upper-cased). `Expander` substitutes
`$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alt}` from ARG and ENV values
the way Docker does for the instructions that take variables. The SDK turns the
instructions into build steps; errors are `DockerfileError` with a message
that names the instruction.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass


class DockerfileError(ValueError):
    """A Dockerfile instruction that is malformed or not supported; the message says which."""


@dataclass(frozen=True)
class Instruction:
    name: str  # upper-case: RUN, COPY, ...
    args: str
    line: int  # 1-based line of the instruction's start

    def __str__(self) -> str:
        return f"{self.name} {self.args}"


def parse(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile (or of a list of `dockerfile_commands` joined by newlines)."""
    out: list[Instruction] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped, as Docker does
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        line = (pending + stripped).strip()
        pending = ""
        name, _, args = line.partition(" ")
        if not args.strip():
            raise DockerfileError(f"line {start}: `{line}` has no arguments")
        out.append(Instruction(name.upper(), args.strip(), start))
    if pending.strip():
        raise DockerfileError(f"line {start}: the last instruction ends with a `\\` continuation")
    return out


def exec_form(inst: Instruction) -> list[str] | None:
    """The JSON-array form's arguments, or None when the instruction uses the shell form."""
    if not inst.args.startswith("["):
        return None
    try:
        value = json.loads(inst.args)
    except ValueError:
        return None  # like Docker: text that is not a JSON array is the shell form (`RUN [[ ... ]]`)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value


_VAR = re.compile(r"\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class Expander:
    """Docker's variable substitution over the ARG and ENV values seen so far."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values: dict[str, str] = dict(values or {})

    def __call__(self, text: str) -> str:
        def repl(m: re.Match) -> str:
            if m.group(0) == "\\$":
                return "$"
            name = m.group(1) or m.group(4)
            value = self.values.get(name)
            if m.group(2) == "-":
                return value if value else m.group(3)
            if m.group(2) == "+":
                return m.group(3) if value else ""
            return value or ""

        return _VAR.sub(repl, text)


def key_values(inst: Instruction, expand: Expander) -> dict[str, str]:
    """ENV / LABEL arguments: `K=V K2="v 2"` (or ENV's legacy `K the rest`)."""
    first = inst.args.split(None, 1)
    if inst.name == "ENV" and "=" not in first[0]:
        return {first[0]: expand(first[1]) if len(first) > 1 else ""}
    pairs: dict[str, str] = {}
    try:
        tokens = shlex.split(inst.args)
    except ValueError as exc:
        raise DockerfileError(f"line {inst.line}: `{inst}`: {exc}") from None
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise DockerfileError(f"line {inst.line}: bad {inst.name} {inst.args!r} (want KEY=value ...)")
        pairs[expand(key)] = expand(value)
    return pairs


def arg(inst: Instruction) -> tuple[str, str | None]:
    """ARG name[=default] -> (name, default or None)."""
    name, sep, default = inst.args.partition("=")
    name = name.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise DockerfileError(f"line {inst.line}: bad ARG {inst.args!r} (want ARG NAME[=default])")
    if sep:
        try:
            parts = shlex.split(default)
        except ValueError as exc:
            raise DockerfileError(f"line {inst.line}: `{inst}`: {exc}") from None
        return name, " ".join(parts)
    return name, None


def from_image(inst: Instruction, expand: Expander) -> tuple[str, str | None]:
    """FROM [--platform=...] image [AS name] -> (image reference, stage name or None)."""
    tokens = expand(inst.args).split()
    platform = [t for t in tokens if t.startswith("--platform=")]
    tokens = [t for t in tokens if not t.startswith("--")]
    if platform and platform[0].split("=", 1)[1] not in ("linux/amd64", "$BUILDPLATFORM", "$TARGETPLATFORM"):
        raise DockerfileError(f"line {inst.line}: `{inst}`: only linux/amd64 images can run here")
    if len(tokens) == 3 and tokens[1].lower() == "as":
        return tokens[0], tokens[2]
    if len(tokens) != 1:
        raise DockerfileError(f"line {inst.line}: bad FROM {inst.args!r} (want FROM image [AS name])")
    return tokens[0], None


def shell_or_exec(inst: Instruction) -> list[str]:
    """ENTRYPOINT / CMD: the exec form as is, the shell form wrapped in `/bin/sh -c`."""
    form = exec_form(inst)
    return form if form is not None else ["/bin/sh", "-c", inst.args]
