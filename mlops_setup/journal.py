"""A small local journal: in-flight token ids and prior settings, never a secret value.

It lets a later run clean up after a crash (a token minted whose secret was never written is
revoked) and put a changed setting back (``ci.workflow-permissions --revert``). The live systems
stay the source of truth; the journal only remembers what they cannot tell us.

Stored as JSON in ``<state_dir>/journal.json``, written atomically, mode 0600. Every change is
a read-modify-write of the file as it is on disk, under an exclusive ``flock`` of
``journal.lock`` beside it (runs also hold the run lock, :mod:`mlops_setup.lock`): a write
never loses another writer's entry.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .config import CREDENTIAL_VALUE


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._data: dict[str, Any] | None = None

    @classmethod
    def for_settings(cls, settings: Any) -> Journal:
        return cls(Path(settings.state_dir) / "journal.json")

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            try:
                self._data = json.loads(self.path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                self._data = {}
        return self._data

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._update(lambda data: data.__setitem__(key, value))

    def pop(self, key: str, default: Any = None) -> Any:
        popped: list[Any] = []
        self._update(lambda data: popped.append(data.pop(key, default)))
        return popped[0]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        from .lock import ensure_state_dir

        ensure_state_dir(self.path.parent)
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held for one read and one write: microseconds
            yield
        finally:
            os.close(fd)

    def _update(self, change: Callable[[dict[str, Any]], Any]) -> None:
        """Read the journal as it is on disk now, change it, write it: all under the lock."""
        with self._locked():
            self._data = None
            data = dict(self.data)
            change(data)
            self._save(data)

    def _save(self, data: dict[str, Any]) -> None:
        """Write ``data`` and make it the journal; nothing changes if it is refused."""
        text = json.dumps(data, indent=2, sort_keys=True)
        if CREDENTIAL_VALUE.search(text):  # belt and braces: never persist a secret
            raise ValueError("refusing to write something that looks like a credential")
        from .lock import ensure_state_dir

        # The folder ignores itself, so no `git add -A` ever takes the journal to GitHub, even
        # in a clone that repo.init did not set up.
        ensure_state_dir(self.path.parent)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".journal-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._data = data
