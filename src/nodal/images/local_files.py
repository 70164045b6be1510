"""Local files added to an image (`Image.add_local_*`), collected on the client.

A `LocalFiles` entry only records what the user asked for; the file system is
read when the app is run or deployed (`files()`), never when the module is
imported, so a container importing the app module does not need the files.
Ignore rules follow dockerignore syntax (`FilePatternMatcher`) or are a
callable given each file's path relative to the added directory.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

IgnoreSpec = Sequence[str] | Callable[[Path], bool]


class LocalFilesError(ValueError):
    """A local file or module could not be found or read (the SDK raises InvalidError)."""


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
            continue
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        out += "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


class FilePatternMatcher:
    """dockerignore-style patterns: `*`, `?`, `**`, `!negation`; a matched directory covers its
    files. `~matcher` matches what `matcher` does not."""

    def __init__(self, *pattern: str) -> None:
        self._rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in pattern:
            if not isinstance(raw, str):
                raise TypeError(f"FilePatternMatcher takes pattern strings, not {type(raw).__name__}")
            p = raw.strip()
            if not p or p.startswith("#"):
                continue
            negate = p.startswith("!")
            body = p.lstrip("!").strip()
            if negate and not body:
                raise ValueError(f"illegal exclusion pattern {raw!r}: '!' must be followed by a pattern")
            p = posixpath.normpath(body).lstrip("/")
            self._rules.append((negate, _pattern_regex(p)))
        self._inverted = False
        self._source: Path | None = None  # from_file: read on first use

    @classmethod
    def from_file(cls, file_path: str | Path) -> FilePatternMatcher:
        """Patterns from an ignore file, one per line, read when the matcher is first used."""
        matcher = cls()
        matcher._source = Path(file_path).expanduser()
        return matcher

    def _loaded(self) -> list[tuple[bool, re.Pattern[str]]]:
        if self._source is not None:
            source, self._source = self._source, None
            self._rules = FilePatternMatcher(*source.read_text().splitlines())._rules
        return self._rules

    def __invert__(self) -> FilePatternMatcher:
        other = FilePatternMatcher()
        other._rules, other._source, other._inverted = self._rules, self._source, not self._inverted
        return other

    def _matches(self, rel: str) -> bool:
        parts = rel.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        matched = False
        for negate, regex in self._loaded():
            if any(regex.match(p) for p in prefixes):
                matched = not negate
        return matched

    def __call__(self, path: Path) -> bool:
        return self._matches(Path(path).as_posix().lstrip("/")) != self._inverted


NON_PYTHON_FILES = ~FilePatternMatcher("**/*.py")


def ignore_fn(ignore: IgnoreSpec, method: str) -> Callable[[Path], bool]:
    if callable(ignore):
        return ignore
    if isinstance(ignore, (str, bytes)) or not all(isinstance(p, str) for p in ignore):
        raise LocalFilesError(f"Image.{method}: ignore must be a list of patterns or a callable, got {ignore!r}")
    return FilePatternMatcher(*ignore)


@dataclass(frozen=True)
class LocalFiles:
    """One add_local_* call: `kind` is "file", "dir" or "python"; `copy` bakes it into a layer."""

    kind: str
    local: str  # a path, or a module name for "python"
    remote: str  # absolute path in the container
    copy: bool
    ignore: Callable[[Path], bool] | None = None
    label: str = ""  # the call, for error messages
    context: str = ""  # "copy" (Dockerfile COPY): sources are `local` split on NUL, relative to this
    chown: str = ""  # Dockerfile COPY --chown=user[:group]: owner of the copied files
    chmod: str = ""  # Dockerfile COPY --chmod=755: mode of the copied files (octal)


    def files(self) -> dict[str, Path]:
        """remote path -> local file, read from the file system now."""
        if self.kind == "file":
            local = Path(self.local).expanduser()
            if not local.is_file():
                raise LocalFilesError(f"{self.label}: local file {str(local)!r} does not exist")
            remote = self.remote + local.name if self.remote.endswith("/") else self.remote
            return {posixpath.normpath(remote): local}
        if self.kind == "dir":
            local = Path(self.local).expanduser()
            if not local.is_dir():
                raise LocalFilesError(f"{self.label}: local directory {str(local)!r} does not exist")
            return _walk(local, self.remote, self.ignore, skip_hidden=False)
        if self.kind == "copy":
            return _context_copy(Path(self.context), self.local.split("\0"), self.remote, self.ignore, self.label)
        return _python_source(self.local, self.ignore, self.label)


def _context_copy(
    context: Path, sources: list[str], dest: str, ignore: Callable[[Path], bool] | None, label: str
) -> dict[str, Path]:
    """Dockerfile COPY: files and directory contents (globs allowed) from the build context."""
    matches: list[Path] = []
    for source in sources:
        rel = posixpath.normpath(source).lstrip("/")
        if rel.startswith(".."):
            raise LocalFilesError(f"{label}: {source!r} is outside the build context {str(context)!r}")
        found = sorted(context.glob(rel)) if any(c in rel for c in "*?[") else [context / rel]
        found = [p for p in found if p.exists()]
        if not found:
            raise LocalFilesError(f"{label}: {source!r} not found in the build context {str(context)!r}")
        matches += found
    into_dir = dest.endswith("/") or len(matches) > 1
    out: dict[str, Path] = {}
    for match in matches:
        rel = match.relative_to(context)
        if match.is_dir():
            out.update(_walk(match, dest, lambda p: ignore is not None and ignore(rel / p), skip_hidden=False))
        elif ignore is None or not ignore(rel):
            out[posixpath.join(dest, match.name) if into_dir else dest] = match
    return out


def _walk(
    root: Path, remote: str, ignore: Callable[[Path], bool] | None, skip_hidden: bool
) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if skip_hidden:
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        dirnames.sort()
        for name in sorted(filenames):
            if skip_hidden and (name.startswith(".") or name.endswith(".pyc")):
                continue
            rel = rel_dir / name
            local = Path(dirpath) / name
            if not local.is_file() or (ignore is not None and ignore(rel)):
                continue
            found[posixpath.join(remote, rel.as_posix())] = local
    return found


def _python_source(module: str, ignore: Callable[[Path], bool] | None, label: str) -> dict[str, Path]:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        raise LocalFilesError(f"{label}: cannot find module {module!r}: {exc}") from None
    if spec is None:
        raise LocalFilesError(f"{label}: no module named {module!r} is importable locally")
    remote = "/root/" + module.replace(".", "/")
    if spec.submodule_search_locations:
        found: dict[str, Path] = {}
        for location in spec.submodule_search_locations:
            found.update(_walk(Path(location), remote, ignore, skip_hidden=True))
        return found
    if not spec.origin or not Path(spec.origin).is_file():
        raise LocalFilesError(f"{label}: module {module!r} has no source file (built-in or namespace?)")
    origin = Path(spec.origin)
    return {remote + origin.suffix: origin}


def file_entry(remote: str, local: Path) -> list:
    """[remote path, sha256 of the content, mode]: how a copied file enters a step's identity."""
    data = local.read_bytes()
    mode = 0o755 if os.access(local, os.X_OK) else 0o644
    return [remote, hashlib.sha256(data).hexdigest(), mode]
