"""`modal.FilePatternMatcher`: dockerignore-style patterns for the `ignore=` of `Image.add_local_*`,
`Image.from_dockerfile` and `Image.dockerfile_commands` (the matcher itself lives with the code
that collects local files, `nodal.images.local_files`)."""

from nodal.images.local_files import NON_PYTHON_FILES, FilePatternMatcher

__all__ = ["NON_PYTHON_FILES", "FilePatternMatcher"]
