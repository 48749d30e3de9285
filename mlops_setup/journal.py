"""A small local journal: in-flight token ids and prior settings, never a secret value.

It lets a later run clean up after a crash (a token minted whose secret was never written is
revoked) and put a changed setting back (``ci.workflow-permissions --revert``). The live systems
stay the source of truth; the journal only remembers what they cannot tell us.

Stored as JSON in ``<state_dir>/journal.json``, written atomically, mode 0600. Every change is
a read-modify-write of the file as it is on disk, under an exclusive ``flock`` of
``journal.lock`` beside it (runs also hold the run lock, :mod:`mlops_setup.lock`): a write
never loses another writer's entry.

Every write records the version of mlops-setup that made it (``written_by``). A newer
mlops-setup reads an older journal (and a later write records the newer version); an older one
refuses a journal written by a newer one, before any API call, with one line and exit code 2:
it might not understand what the newer version wrote there (an in-flight token it would fail
to revoke). Versions compare by their release numbers (``0.2.0.dev1`` counts as ``0.2.0``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import __version__
from .changes import SetupError
from .config import CREDENTIAL_VALUE

VERSION_KEY = "written_by"
MADE_KEY = "made"  # what the setup created, for setup.destroy (see Journal.made)


class JournalTooNew(SetupError):
    """The journal was written by a newer mlops-setup than this one."""

    exit_code = 2


def release(version: str) -> tuple[int, ...]:
    """``"0.10.2rc1"`` -> ``(0, 10, 2)``; ``()`` for something that is not a version."""
    found = re.match(r"\s*v?(\d+(?:\.\d+)*)", version) if isinstance(version, str) else None
    return tuple(int(part) for part in found.group(1).split(".")) if found else ()


class MadeRecord(dict):
    """A record of :meth:`Journal.made`. A field it lacks (a journal edited by hand, or cut
    short) is a :class:`SetupError` naming the journal and the record, not a ``KeyError``
    traceback half way through a destroy."""

    def __init__(self, record: dict[str, Any], *, journal: Path) -> None:
        super().__init__(record)
        self._journal = journal

    def __missing__(self, key: str) -> Any:
        raise SetupError(
            f"{self._journal}: the record of {self.get('kind')!r} {self.get('id')!r} has no "
            f"{key!r}, so what it names cannot be undone",
            fix="put back the journal the setup wrote (it is never edited by hand), or remove "
            "that record and undo the object it names yourself",
            page="teardown.md#what-it-undoes",
        )


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
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                data = {}
            self._refuse_newer(data)
            self._data = data
        return self._data

    def check(self) -> None:
        """Read the journal now: raise :class:`JournalTooNew` before anything else happens."""
        _ = self.data

    def _refuse_newer(self, data: Any) -> None:
        writer = data.get(VERSION_KEY) if isinstance(data, dict) else None
        if isinstance(writer, str) and release(writer) > release(__version__):
            raise JournalTooNew(
                f"{self.path} was written by mlops-setup {writer}, newer than this one "
                f"({__version__}): upgrade mlops-setup (pipx upgrade mlops-setup) and run it again"
            )

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._update(lambda data: data.__setitem__(key, value))

    def pop(self, key: str, default: Any = None) -> Any:
        popped: list[Any] = []
        self._update(lambda data: popped.append(data.pop(key, default)))
        return popped[0]

    # --------------------------------------------------------------- what the setup made

    def made(self, kind: str, ident: str, **facts: Any) -> None:
        """Record that the setup created ``kind`` ``ident`` (an SP, a grant, a secret, ...), with
        the non-secret ``facts`` that undoing it needs; ``setup.destroy`` undoes exactly these.
        Recording it again updates its facts and keeps its place (the order of creation)."""
        record = {"kind": kind, "id": str(ident), **facts}

        def change(data: dict[str, Any]) -> None:
            records = [dict(r) if isinstance(r, dict) else r for r in data.get(MADE_KEY) or []]
            for index, old in enumerate(records):  # an entry edited in by hand stays as it is
                if (
                    isinstance(old, dict)
                    and old.get("kind") == kind
                    and old.get("id") == str(ident)
                ):
                    records[index] = record
                    break
            else:
                records.append(record)
            data[MADE_KEY] = records

        self._update(change)

    def unmade(self, kind: str, ident: str) -> None:
        """Forget ``kind`` ``ident``: it is gone (``setup.destroy`` removed it, or it was found
        gone). A no-op (no write) when it is not recorded."""
        if self.made_record(kind, ident) is None:
            return

        def change(data: dict[str, Any]) -> None:
            data[MADE_KEY] = [
                r
                for r in data.get(MADE_KEY) or []
                if not (isinstance(r, dict) and r.get("kind") == kind and r.get("id") == str(ident))
            ]

        self._update(change)

    def made_records(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The records of :meth:`made`, in the order they were first made (of one ``kind``)."""
        records = [r for r in self.data.get(MADE_KEY) or [] if isinstance(r, dict)]
        mine = [r for r in records if kind is None or r.get("kind") == kind]
        return [MadeRecord(r, journal=self.path) for r in mine]

    def made_record(self, kind: str, ident: str) -> dict[str, Any] | None:
        for record in self.made_records(kind):
            if record.get("id") == str(ident):
                return record
        return None

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
        data = {**data, VERSION_KEY: __version__}
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
