"""One stage at a time per root: an advisory lock file under ``paths.root``.

Two runs writing the same root (two nightly `irm score` for the same date, say) would race: the
last rename wins, with no word. Every stage takes the root's lock first (``fcntl.flock``: the OS
releases it when the process dies, so a killed run never leaves the root locked); a second run
exits at once naming the first one's pid and stage, or, with ``--wait``, waits for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from irm_models.errors import IrmError


class Locked(IrmError):
    """Another process holds the root's lock."""


def _holder(fd: int) -> str:
    """What the lock file says about the process that holds it (``pid 123, irm score``)."""
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 200).decode("utf-8", "replace").split()
    return f"irm {text[1]} (pid {text[0]})" if len(text) >= 2 else "another irm process"


@contextlib.contextmanager
def root_lock(
    path: Path, stage: str, wait: bool = False, say: Callable[[str], None] = print
) -> Iterator[None]:
    """Hold the lock at ``path`` for the block; ``say`` tells the user when it waits.

    Raises:
        Locked: another process holds it and ``wait`` is false.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                raise Locked(
                    f"{holder} is running on paths.root {path.parent} (lock {path}); run one "
                    "stage at a time per root, or pass --wait to wait for it"
                ) from None
            say(f"waiting for {holder} to finish on paths.root {path.parent}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()} {stage}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the lock
