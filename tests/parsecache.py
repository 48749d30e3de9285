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
:data:`KEEP_DAYS` days are removed when a test process starts. The tests' cache (:func:`cache`)
keeps only the parse of a text committed in tests/cassettes (its git blob id is one of HEAD's
there): a cassette a test writes in its own folder, or one recomposed and not yet committed, is
parsed every time and never copied to the temporary directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

KEEP_DAYS = 7
FOLDER_NAME = "mlops-setup-parsed-cassettes"
ROOT = Path(__file__).resolve().parent.parent
CASSETTES = "tests/cassettes"


def _versions() -> str:
    import vcr
    import yaml

    libyaml = "c" if getattr(yaml, "__with_libyaml__", False) else "py"
    py = "".join(map(str, sys.version_info[:3]))
    return f"vcr{vcr.__version__}-yaml{yaml.__version__}{libyaml}-py{py}-m{marshal.version}"


class ParseCache:
    """``load(text, parse, kind)``: ``parse(text)``, or what it returned for this text before."""

    def __init__(self, folder: Path | None, keep: Callable[[str], bool] | None = None) -> None:
        self.folder = folder
        self.keep = keep  # which texts' parses may be kept on disk (None: any)
        self.versions = _versions()
        self.hits = 0
        self.misses = 0

    @classmethod
    def in_temp_dir(cls, keep: Callable[[str], bool] | None = None) -> ParseCache:
        """The cache in ``<tempdir>/mlops-setup-parsed-cassettes-<uid>``, or one that keeps
        nothing when that folder cannot be made private to this user."""
        folder = Path(tempfile.gettempdir()) / f"{FOLDER_NAME}-{os.getuid()}"
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            info = os.lstat(folder)
        except OSError:
            return cls(None, keep)
        private = (
            stat.S_ISDIR(info.st_mode)
            and info.st_uid == os.getuid()
            and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        )
        return cls(folder if private else None, keep)

    def path_for(self, text: str, kind: str) -> Path | None:
        if self.folder is None:
            return None
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return self.folder / f"{digest}.{kind}.{self.versions}.marshal"

    def load(self, text: str, parse: Callable[[str], Any], kind: str) -> Any:
        if self.keep is not None and not self.keep(text):
            return parse(text)  # not a text whose parse may go to disk
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


def committed_blobs(root: Path = ROOT, folder: str = CASSETTES) -> frozenset[str]:
    """The git blob ids of the files committed under ``folder`` of ``root`` at HEAD (empty when
    there is no git or no repository: then nothing is kept)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-tree", "-r", "HEAD", "--", folder],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return frozenset()
    return frozenset(line.split()[2] for line in listed.splitlines() if " blob " in line)


def blob_id(text: str) -> str:
    """The git blob id of ``text`` written as UTF-8 (how the cassettes are written)."""
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def committed_cassette(text: str) -> bool:
    """Whether ``text`` is the text of a cassette committed in tests/cassettes."""
    global _COMMITTED
    if _COMMITTED is None:
        _COMMITTED = committed_blobs()
    return blob_id(text) in _COMMITTED


_COMMITTED: frozenset[str] | None = None
_CACHE: ParseCache | None = None


def cache() -> ParseCache:
    """This process's cache (made on first use, after pytest chose the temporary directory):
    only committed cassette texts are kept on disk."""
    global _CACHE
    if _CACHE is None:
        _CACHE = ParseCache.in_temp_dir(keep=committed_cassette)
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
