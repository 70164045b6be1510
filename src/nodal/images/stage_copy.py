"""`COPY --from=<stage or image>`: the two shell scripts that move files between images.

The files are exported by a throwaway container of the source image (which sees its merged
file system, whiteouts and all) into a host staging directory bound at `OUT`, then imported
by the step's build container, whose writes become the new layer. Docker's rules: a
directory source copies its contents, several sources (or a `/`-terminated destination)
go into a directory, a single file source may be renamed by the destination.
"""

from __future__ import annotations

import shlex

from nodal.images.steps import BUILD_TOOLS_DIR, FILES_DIR

OUT = f"{BUILD_TOOLS_DIR}/out"  # where the export container writes (a host staging dir)
SINGLE = ".nodal-single-file"


def _source(src: str) -> str:
    """A source path for the shell: globs expand, everything else is quoted."""
    if any(c in src for c in "*?["):
        return " ".join(shlex.quote(part) if i % 2 == 0 else part
                        for i, part in enumerate(_split_globs(src)))
    return shlex.quote(src)


def _split_globs(src: str) -> list[str]:
    """Alternate literal / glob chunks so literals can be quoted and globs left bare."""
    parts, literal, i = [], "", 0
    while i < len(src):
        if src[i] in "*?[":
            end = src.index("]", i) + 1 if src[i] == "[" and "]" in src[i:] else i + 1
            parts += [literal, src[i:end]]
            literal, i = "", end
        else:
            literal += src[i]
            i += 1
    parts.append(literal)
    return [p for p in parts] if parts else [src]


def export_script(sources: list[str], dest: str) -> str:
    """Run in the source image: copy `sources` into OUT, laid out as they will land under dest."""
    into_dir = dest.endswith("/") or len(sources) > 1 or any(c in s for s in sources for c in "*?[")
    lines = ["set -e"]
    for src in sources:
        missing = f'echo "COPY --from: {src} not found in the source image" >&2; exit 1'
        if into_dir:
            lines.append(
                f'for s in {_source(src)}; do [ -e "$s" ] || [ -L "$s" ] || {{ {missing}; }}; '
                f'if [ -d "$s" ] && [ ! -L "$s" ]; then cp -a "$s"/. {OUT}/; else cp -a "$s" {OUT}/; fi; done'
            )
        else:
            q = shlex.quote(src)
            lines.append(
                f"[ -e {q} ] || [ -L {q} ] || {{ {missing}; }}; "
                f"if [ -d {q} ] && [ ! -L {q} ]; then cp -a {q}/. {OUT}/; else cp -a {q} {OUT}/{SINGLE}; fi"
            )
    return "\n".join(lines) + "\n"


def import_script(dest: str, chown: str = "") -> str:
    """Run in the build container: place the staged files (bound at FILES_DIR) at dest."""
    d = shlex.quote(dest.rstrip("/") or "/")
    owner = shlex.quote(chown) if chown else ""
    single = (
        f'mkdir -p "$(dirname {d})" && cp -a {FILES_DIR}/{SINGLE} {d}' + (f" && chown {owner} {d}" if owner else "")
    )
    many = f"mkdir -p {d} && cp -a {FILES_DIR}/. {d}/"
    if owner:
        many += (f' && for e in {FILES_DIR}/* {FILES_DIR}/.[!.]*; do [ -e "$e" ] || continue; '
                 f'chown -R {owner} {d}/"$(basename "$e")"; done')
    return f"set -e\nif [ -e {FILES_DIR}/{SINGLE} ]; then {single}; else {many}; fi\n"
