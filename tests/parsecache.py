"""Parsed cassettes, kept between test runs under the hash of their text.

Parsing a cassette's YAML is most of what loading it costs: the 225 cassettes are ~21 MB of
YAML, ~2.3 s of CPU through libyaml and PyYAML's constructor per suite run, against ~0.1 s to
read the same data back with :mod:`marshal`. The replay (vcrpy, through
:data:`CACHED_YAML_SERIALIZER`) looks a cassette's text up here first: the key is the SHA-256 of
the text read from the file, with vcrpy's, PyYAML's and Python's versions, so an entry is only
ever the parse of exactly that text by exactly that parser. A changed cassette is parsed again
(and stored under its new hash); a text that does not parse raises as before and stores
nothing; data :mod:`marshal` cannot hold (vcrpy's ``BytesIO`` bodies) is returned, not stored.

The entries live in a folder of the temporary directory (a tmpfs when the tests use one), owned
by this user and closed to others; it is not used when it is not. Entries unused for
:data:`KEEP_DAYS` days are removed when a test process starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

KEEP_DAYS = 7
FOLDER_NAME = "mlops-setup-parsed-cassettes"


def _versions() -> str:
    import vcr
    import yaml

    libyaml = "c" if getattr(yaml, "__with_libyaml__", False) else "py"
    py = "".join(map(str, sys.version_info[:3]))
    return f"vcr{vcr.__version__}-yaml{yaml.__version__}{libyaml}-py{py}-m{marshal.version}"


class ParseCache:
    """``load(text, parse, kind)``: ``parse(text)``, or what it returned for this text before."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.versions = _versions()
        self.hits = 0
        self.misses = 0

    @classmethod
    def in_temp_dir(cls) -> ParseCache:
        """The cache in ``<tempdir>/mlops-setup-parsed-cassettes-<uid>``, or one that keeps
        nothing when that folder cannot be made private to this user."""
        folder = Path(tempfile.gettempdir()) / f"{FOLDER_NAME}-{os.getuid()}"
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            info = os.lstat(folder)
        except OSError:
            return cls(None)
        private = (
            stat.S_ISDIR(info.st_mode)
            and info.st_uid == os.getuid()
            and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        )
        return cls(folder if private else None)

    def path_for(self, text: str, kind: str) -> Path | None:
        if self.folder is None:
            return None
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return self.folder / f"{digest}.{kind}.{self.versions}.marshal"

    def load(self, text: str, parse: Callable[[str], Any], kind: str) -> Any:
        path = self.path_for(text, kind)
        if path is not None:
            try:
                blob = path.read_bytes()
                # a private folder (see in_temp_dir), written only by _store; marshal builds
                # data and code objects, and nothing here runs code
                value = marshal.loads(blob)  # noqa: S302
            except (OSError, EOFError, ValueError, TypeError):
                pass
            else:
                self.hits += 1
                with contextlib.suppress(OSError):
                    os.utime(path)  # used: not pruned
                return value
        self.misses += 1
        value = parse(text)
        if path is not None:
            self._store(path, value)
        return value

    def _store(self, path: Path, value: Any) -> None:
        try:
            blob = marshal.dumps(value)
        except ValueError:  # an object marshal cannot hold: parse this cassette every time
            return
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(blob)
            os.replace(tmp, path)  # whole or not at all, whichever process writes it
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def prune(self, now: float | None = None) -> int:
        """Remove entries not used for :data:`KEEP_DAYS` days; returns how many."""
        if self.folder is None:
            return 0
        limit = (time.time() if now is None else now) - KEEP_DAYS * 86400
        removed = 0
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return 0
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_mtime < limit:
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                continue
        return removed


_CACHE: ParseCache | None = None


def cache() -> ParseCache:
    """This process's cache (made on first use, after pytest chose the temporary directory)."""
    global _CACHE
    if _CACHE is None:
        _CACHE = ParseCache.in_temp_dir()
    return _CACHE


class CachedYamlSerializer:
    """vcrpy's YAML serializer, its ``deserialize`` looked up in :func:`cache` first; cassettes
    are written exactly as vcrpy writes them."""

    kind = "vcr-yaml"

    @staticmethod
    def deserialize(cassette_string: str) -> Any:
        from vcr.serializers import yamlserializer

        return cache().load(cassette_string, yamlserializer.deserialize, CachedYamlSerializer.kind)

    @staticmethod
    def serialize(cassette_dict: Any) -> str:
        from vcr.serializers import yamlserializer

        return yamlserializer.serialize(cassette_dict)


CACHED_YAML_SERIALIZER = CachedYamlSerializer()
