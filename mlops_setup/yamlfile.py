"""Reading one YAML settings file, with one-line errors. Light: no pydantic here.

The loader is bounded, whatever the file holds (it may come from anywhere: ``-f FILE``,
``INVOKE_RUNTIME_CONFIG``, a colleague's repo):

* a regular file of at most :data:`MAX_BYTES` (never a FIFO, a device or a folder);
* at most :data:`MAX_DEPTH` levels of nesting, counted through aliases too (and, before PyYAML
  sees the text, in brackets: its scanner looks ahead through a whole flow collection, so
  thousands of ``[`` would cost seconds before any depth check could run);
* at most :data:`MAX_ALIASES` aliases, expanding to at most :data:`MAX_NODES` values in all (a
  "billion laughs" document is refused before anything walks it), and no alias inside the node
  it names (a recursive document);
* keys are text, given once per mapping; values are plain YAML (text, numbers, true/false,
  null, lists, mappings): ``!!binary``, ``!!set``, timestamps and other tags are refused at the
  key that carries them.

Every refusal is a :class:`ConfigError`: one line naming the file and the key (exit code 2).
"""

from __future__ import annotations

import errno
import re
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 64 * 1024  # a settings file is ~2 KB; PyYAML reads ~100 KB/s
MAX_DEPTH = 32
MAX_ALIASES = 64
MAX_NODES = 10_000

_TAG = "tag:yaml.org,2002:"
PLAIN_TAGS = frozenset(
    _TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge")
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    """``text`` with control characters (and the bidi overrides) shown as escapes, so a value
    or key from a file can never move the cursor, recolour or rewrite the terminal."""
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return _CONTROL.sub(
        lambda m: (
            named.get(m.group(), f"\\x{ord(m.group()):02x}")
            if ord(m.group()) < 0x100
            else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


class ConfigError(Exception):
    """Bad configuration. ``str()`` is the one line shown to the operator; exit code 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # One line, whatever the operator's values contain (a path or value with a newline or
        # a terminal escape sequence).
        super().__init__(escape_controls(message))


class _Refused(Exception):
    """A bounded-loader refusal: ``where`` is the dotted key (may be empty)."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(what)
        self.where = where
        self.what = what


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, composing at most MAX_DEPTH levels and MAX_ALIASES aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _Refused("", f"more than {MAX_ALIASES} aliases (line {mark.line + 1})")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused("", f"nested deeper than {MAX_DEPTH} levels (line {mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _key_text(node: Any) -> str:
    return escape_controls(str(node.value))[:60] if isinstance(node, yaml.ScalarNode) else "?"


def _check_nodes(root: Any, loader: Any) -> None:
    """Refuse recursion, expansion beyond MAX_NODES, depth beyond MAX_DEPTH through aliases,
    duplicate or non-text keys and non-plain tags. Each node is measured once (memo), so an
    alias bomb costs no more than its text."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, depth)
    open_: set[int] = set()

    def measure(node: Any, path: str) -> tuple[int, int]:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise _Refused(path, "an alias refers to the value that contains it (recursive)")
        if node.tag not in PLAIN_TAGS:
            tag = node.tag.removeprefix(_TAG)
            hint = " (quote it to make it text)" if tag == "timestamp" else ""
            raise _Refused(
                path,
                "expected a plain value (text, number, true/false, list or mapping), "
                f"not {escape_controls(tag)[:40]!s}{hint}",
            )
        # an explicit tag on a value of another type (``!!int x``) would crash the constructor:
        # the value must be what its tag says, as YAML itself would read it
        typed = (_TAG + "int", _TAG + "float", _TAG + "bool", _TAG + "null")
        if (
            isinstance(node, yaml.ScalarNode)
            and node.tag in typed
            and loader.resolve(yaml.ScalarNode, node.value, (True, False)) != node.tag
        ):
            raise _Refused(
                path,
                f"expected a plain value, not !!{node.tag.removeprefix(_TAG)} "
                f"{escape_controls(str(node.value))[:30]}",
            )
        open_.add(key)
        size, depth = 1, 0
        if isinstance(node, yaml.SequenceNode):
            for index, child in enumerate(node.value):
                s, d = measure(child, f"{path}[{index}]" if path else f"[{index}]")
                size, depth = size + s, max(depth, d)
        elif isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, child in node.value:
                if key_node.tag == _TAG + "merge":
                    s, d = measure(child, path)
                    size, depth = size + s, max(depth, d)
                    continue
                name = _key_text(key_node)
                dotted = f"{path}.{name}" if path else name
                if key_node.tag != _TAG + "str":
                    shown = "null" if key_node.tag == _TAG + "null" else name
                    raise _Refused(
                        dotted if key_node.tag == _TAG + "str" else path,
                        f"key {shown} (line {key_node.start_mark.line + 1}) is not text; "
                        "keys are setting names (quote it if it must be one)",
                    )
                line = key_node.start_mark.line + 1
                if key_node.value in seen:
                    raise _Refused(dotted, f"given twice (lines {seen[key_node.value]} and {line})")
                seen[key_node.value] = line
                s, d = measure(child, dotted)
                size, depth = size + s, max(depth, d)
        open_.discard(key)
        depth += 1
        if depth > MAX_DEPTH:
            raise _Refused(path, f"nested deeper than {MAX_DEPTH} levels (through aliases)")
        if size > MAX_NODES:
            raise _Refused(path, f"expands to more than {MAX_NODES} values (aliases)")
        sizes[key] = (size, depth)
        return size, depth

    measure(root, "")


def _flow_depth(text: str) -> None:
    """Refuse text whose brackets nest deeper than MAX_DEPTH (counted plainly, quotes and all:
    no settings file comes near it)."""
    depth = 0
    for line_no, line in enumerate(text.splitlines(), 1):
        for char in line:
            if char in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    raise _Refused("", f"nested deeper than {MAX_DEPTH} levels (line {line_no})")
            elif char in "]}" and depth:
                depth -= 1


# libyaml's composer, when PyYAML was built with it: for the files we ship only (below).
_SHIPPED_LOADER = getattr(yaml, "CSafeLoader", _Loader)


def load_text(text: str, *, shipped: bool = False) -> Any:
    """One YAML document from ``text``, bounded (see the module docstring). Raises
    ``yaml.YAMLError`` for malformed YAML and :class:`_Refused` for what the bounds refuse.

    ``shipped``: a file of ours (``config/defaults.yaml``), composed by libyaml when PyYAML has
    it (the same nodes, ~15 times faster than the pure-Python composer; every process that
    loads settings reads the defaults) and checked node by node as any file is (tags, keys,
    depth and size through aliases). Only the composer's own bounds, there for a file from
    anywhere whose nesting could exhaust the C stack before any check ran, are left out."""
    _flow_depth(text)
    loader = _SHIPPED_LOADER(text) if shipped else _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, loader)
        return loader.construct_document(node)
    except RecursionError:
        raise _Refused("", f"nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a constructor refused a value
        raise _Refused("", f"a value YAML cannot read ({type(exc).__name__})") from None
    finally:
        loader.dispose()


def scalar_from_env(raw: str) -> Any:
    """An environment variable's value read as YAML (``true``, ``5``, ``[a, b]``); anything
    that is not plain, bounded YAML is taken as the text it is."""
    if not raw.strip():
        return ""
    try:
        value = load_text(raw)
    except (yaml.YAMLError, _Refused):
        return raw
    return "" if value is None else value


_SCALARS = frozenset({str, int, float, bool, type(None)})


def copy_plain(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """A deep copy of settings data, as :func:`copy.deepcopy` makes it (a value that appears
    twice, as a YAML alias makes it, is copied once, and so only once), several times faster on
    the mappings, lists and scalars that YAML, variables and flags give. Anything else goes to
    :func:`copy.deepcopy`."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    memo = {} if memo is None else memo
    if id(value) in memo:
        return memo[id(value)]
    if kind is dict:
        out: Any = {}
        memo[id(value)] = out
        for key, item in value.items():
            out[key if type(key) in _SCALARS else copy_plain(key, memo)] = copy_plain(item, memo)
        return out
    if kind is list:
        out = []
        memo[id(value)] = out
        out.extend(copy_plain(item, memo) for item in value)
        return out
    import copy

    return copy.deepcopy(value, memo)


class TextMemo:
    """What the last ``size`` texts parsed to, keyed by the text itself (never by a file's size
    or time, which an edit within the clock's tick can leave as they were); the least recently
    used goes first. Only what parsed is kept: a parse that raises keeps nothing. Safe across
    threads (netcheck's look-ups run in threads). ``kept``: the entries, for the tests."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.kept: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, parse: Callable[[], Any], *, keep: bool = True) -> Any:
        """What ``parse()`` returned for ``key`` before, or what it returns now (kept unless
        ``keep`` is false)."""
        with self._lock:
            value = self.kept.pop(key, _MISSING)  # and put back last: the least recent goes first
        if value is _MISSING:
            value = parse()
            if not keep:
                return value
        with self._lock:
            self.kept[key] = value
            while len(self.kept) > self.size:
                del self.kept[next(iter(self.kept))]
        return value


_MISSING = object()
# Every task loads the settings, the tests thousands of times, and the bounded loader is pure
# Python (~3 ms a file). A caller gets a copy of what is kept, so nothing it does reaches the next.
_PARSED = TextMemo(32)


def _parsed(text: str, shipped: bool) -> Any:
    """:func:`load_text`, remembered for the last texts that loaded (:data:`_PARSED`)."""
    return copy_plain(_PARSED.get((shipped, text), lambda: load_text(text, shipped=shipped)))


def read_yaml(path: Path, label: str, *, shipped: bool = False) -> dict:
    """The mapping in ``path``; ConfigError naming ``label`` for any problem. ``shipped``: a
    file of ours (:func:`load_text`)."""
    try:
        info = Path(path).stat()
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"{label}: is a folder, expected a YAML file")
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{label}: is not a regular file, expected a YAML file")
        if info.st_size > MAX_BYTES:
            raise ConfigError(
                f"{label}: {info.st_size} bytes; a settings file has at most {MAX_BYTES}"
            )
        with open(path, encoding="utf-8") as fh:
            text = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{label}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{label}: is a folder, expected a YAML file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{label}: cannot read the file ({exc.__class__.__name__})") from None
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{label}: a settings file has at most {MAX_BYTES} bytes")
    try:
        data = _parsed(text, shipped)
    except _Refused as exc:
        where = f"{exc.where}: " if exc.where else ""
        raise ConfigError(f"{label}: {where}{exc.what}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{label}: invalid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{label}: expected a mapping of settings at the top, got {type(data).__name__}"
        )
    return data


INVOKE_KEYS = frozenset({"run", "runners", "sudo", "tasks", "timeouts"})
"""Invoke's own top-level settings (``Config.global_defaults()``): in an ``-f`` YAML file they
would change how Invoke runs tasks, not what mlops-setup does, so they are refused there."""
YAML_SUFFIXES = (".yaml", ".yml")


def runtime_file_kind(path: str | Path) -> str:
    """``yaml`` (our settings), ``py`` (Invoke's own Python config, run by Invoke) or
    ``other`` (refused) for an ``-f`` / ``INVOKE_RUNTIME_CONFIG`` file."""
    suffix = Path(str(path)).suffix  # as Invoke reads it: case matters (.YAML is not .yaml)
    if suffix in YAML_SUFFIXES:
        return "yaml"
    return "py" if suffix == ".py" else "other"


def install_invoke_hook() -> None:
    """Make Invoke's own read of ``invoke -f FILE`` fail with one line and exit code 2.

    Invoke parses the runtime config file itself, after loading ``tasks.py`` and before any task
    runs; left alone, a broken file gives a Python traceback. This swaps in a loader that turns
    YAML and I/O errors into ``invoke.Exit(message, 2)``, which Invoke prints as one line, and
    refuses, for the ``-f`` file only, Invoke's own keys (``run:``, ``tasks:``, ...) and file
    types other than YAML. ``-f FILE.py`` keeps Invoke's meaning: Invoke runs it as Python
    config for itself, and mlops-setup then reads its settings from ``mlops-setup.yaml``.
    """
    from invoke import Exit
    from invoke.config import Config

    if getattr(Config, "_mlops_setup_hooked", False):
        return

    def is_runtime(self: Any, path: str) -> bool:
        runtime = getattr(self, "_runtime_path", None)
        return bool(runtime) and str(Path(str(runtime)).expanduser()) == str(path)

    def _load_yaml(self: Any, path: str) -> Any:
        try:
            exists = Path(path).exists()
        except (OSError, ValueError):
            exists = True  # let read_yaml say what is wrong with it
        if not exists:
            # Invoke probes invoke.yaml, invoke.yml, ... and skips missing ones on errno 2;
            # a missing -f FILE is reported by our own loader, which knows the file's role.
            raise FileNotFoundError(errno.ENOENT, "not found", path)
        try:
            data = read_yaml(Path(path), str(path))
        except ConfigError as exc:
            raise Exit(f"config error: {exc}", code=2) from None
        if is_runtime(self, path):
            reserved = sorted(INVOKE_KEYS & set(data))
            if reserved:
                raise Exit(
                    f"config error: {ConfigError(str(path))}: {reserved[0]}: is Invoke's own "
                    "setting, not one of mlops-setup's; put it in invoke.yaml, not the file "
                    "given with -f",
                    code=2,
                )
        return data

    original_load_file = Config._load_file

    def _load_file(self: Any, prefix: str, absolute: bool = False, merge: bool = True) -> None:
        path = getattr(self, "_runtime_path", None) if prefix == "runtime" else None
        if path and runtime_file_kind(path) == "other":
            raise Exit(
                f"config error: {ConfigError(str(path))}: not a YAML file; mlops-setup reads "
                "its settings from .yaml/.yml files (-f FILE.py is Invoke's own Python config)",
                code=2,
            )
        original_load_file(self, prefix, absolute=absolute, merge=merge)

    Config._load_yaml = _load_yaml  # type: ignore[method-assign]
    Config._load_yml = _load_yaml  # type: ignore[attr-defined]
    Config._load_file = _load_file  # type: ignore[method-assign]
    Config._mlops_setup_hooked = True  # type: ignore[attr-defined]
