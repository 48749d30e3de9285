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
        self._save({**self.data, key: value})

    def pop(self, key: str, default: Any = None) -> Any:
        data = dict(self.data)
        value = data.pop(key, default)
        self._save(data)
        return value

    def _save(self, data: dict[str, Any]) -> None:
        """Write ``data`` and make it the journal; nothing changes if it is refused."""
        text = json.dumps(data, indent=2, sort_keys=True)
        if CREDENTIAL_VALUE.search(text):  # belt and braces: never persist a secret
            raise ValueError("refusing to write something that looks like a credential")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The folder ignores itself, so no `git add -A` ever takes the journal to GitHub, even
        # in a clone that repo.init did not set up.
        ignore = self.path.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# mlops-setup's local journal: never commit\n*\n")
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
