"""One run at a time per state folder.

Two runs against the same project at once would share the journal (one run's record of an
in-flight token lost to the other's write) and race each other on the same resources. So every
task that loads its settings takes an advisory lock (``fcntl.flock``) on
``<state_dir>/run.lock`` for as long as it runs; the holder writes who it is (pid, host, start
time) into the file. A second run finds the lock taken, says who holds it, and exits 1 before
it reads or changes anything. The kernel drops the lock when the holder exits, even if it is
killed, so a stale lock file never blocks anyone.

The lock is re-entrant within one process (``setup.all`` and its steps, or tests that load
several sessions): the first acquisition takes it, the last release drops it.

The state folder ignores itself (a ``.gitignore`` of ``*``), so no ``git add -A`` ever takes
the lock file or the journal to GitHub.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import socket
from contextlib import suppress
from pathlib import Path

from .changes import SetupError

LOCK_NAME = "run.lock"
IGNORE_TEXT = "# mlops-setup's local journal: never commit\n*\n"

_held: dict[str, list[int]] = {}  # resolved lock path -> [fd, count]


def ensure_state_dir(path: Path) -> None:
    """Create the state folder (mode 0700) with its self-ignoring .gitignore."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text(IGNORE_TEXT)


class Busy(SetupError):
    """Another run holds the state folder."""


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or not info.get("pid"):
        return "a process that did not say who it is"
    return f"pid {info['pid']} on {info.get('host', '?')}, started {info.get('started', '?')}"


class RunLock:
    """``with RunLock(state_dir, now): ...``, or :meth:`acquire` / :meth:`release`."""

    def __init__(self, state_dir: Path, started: dt.datetime | None = None) -> None:
        self.dir = Path(state_dir)
        self.path = self.dir / LOCK_NAME
        self.started = started or dt.datetime.now(dt.UTC)
        self._key = ""

    def acquire(self) -> RunLock:
        import fcntl

        ensure_state_dir(self.dir)
        key = str(self.path.resolve())
        if key in _held:
            _held[key][1] += 1
            self._key = key
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise Busy(
                f"another mlops-setup run is using {self.dir} ({holder}); nothing was done",
                fix="wait for it to finish (or stop it), then run again; one run at a time per "
                "state folder",
                page="index.md#configure",
            ) from None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": self.started.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        _held[key] = [fd, 1]
        self._key = key
        return self

    def release(self) -> None:
        key, self._key = self._key, ""
        if not key or key not in _held:
            return
        _held[key][1] -= 1
        if _held[key][1] > 0:
            return
        fd, _ = _held.pop(key)
        with suppress(OSError):
            os.ftruncate(fd, 0)  # nobody holds it: no stale "who" for the next reader
        os.close(fd)  # closing drops the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
