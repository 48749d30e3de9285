"""A small local journal: in-flight token ids and prior settings, never a secret value.

It lets a later run clean up after a crash (a token minted whose secret was never written is
revoked) and put a changed setting back (``ci.workflow-permissions --revert``). The live systems
stay the source of truth; the journal only remembers what they cannot tell us.

Stored as JSON in ``<state_dir>/journal.json``, written atomically, mode 0600.
"""

from __future__ import annotations

import json
import os
import tempfile
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
        self.data[key] = value
        self._save()

    def pop(self, key: str, default: Any = None) -> Any:
        value = self.data.pop(key, default)
        self._save()
        return value

    def _save(self) -> None:
        text = json.dumps(self.data, indent=2, sort_keys=True)
        if CREDENTIAL_VALUE.search(text):  # belt and braces: never persist a secret
            raise ValueError("refusing to write something that looks like a credential")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".journal-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
