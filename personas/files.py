"""Writing a file so that a crash never leaves half of it: the persona, lorebook and user-persona
folders and the backups all write this way. Plain Python; never imports Streamlit."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def replacing(path: Path) -> Iterator[IO[bytes]]:
    """A file to write that takes ``path``'s place in one step (``os.replace``) when the block
    ends; if the block raises, ``path`` is left as it was and the scratch file is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` in one step (see :func:`replacing`)."""
    with replacing(path) as handle:
        handle.write(data)
