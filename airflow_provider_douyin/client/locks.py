"""One token fetcher at a time per credential, across the threads and processes of one machine.

Airflow runs each task in its own process, often several at once on one worker, and a token fetch
that two of them make together costs more than a wait: a second client-token fetch within the
platform's cap still retires the first token five minutes later, and a renewed refresh token kills
the old one at once. A lock file per credential (``fcntl.flock``) serialises the fetchers of one
machine; the holder re-reads the token store inside the lock, so a waiter adopts what the holder
stored instead of fetching again. Across machines the store re-read is what converges: at most one
extra fetch per machine, inside the platform's grace.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_thread_locks: dict[str, threading.RLock] = {}
_guard = threading.Lock()
_depth = threading.local()
"""How deep the current thread holds each lock; only the outermost hold takes the file lock (a
second ``flock`` on a new descriptor would wait for the first, in the same thread)."""


def lock_path(name: str, directory: str | None = None) -> Path:
    """The lock file for ``name`` (hashed, so a credential never appears in a file name)."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:24]
    return Path(directory or tempfile.gettempdir()) / f"airflow-provider-douyin-{digest}.lock"


@contextmanager
def machine_lock(name: str, directory: str | None = None) -> Iterator[None]:
    """Hold the lock called ``name`` for this machine: re-entrant in a thread, exclusive otherwise."""
    with _guard:
        thread_lock = _thread_locks.setdefault(name, threading.RLock())
    with thread_lock:
        depths: dict[str, int] = _depth.__dict__.setdefault("by_name", {})
        outermost = not depths.get(name)
        depths[name] = depths.get(name, 0) + 1
        try:
            if not outermost:
                yield
                return
            fd = os.open(lock_path(name, directory), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the flock
        finally:
            depths[name] -= 1
