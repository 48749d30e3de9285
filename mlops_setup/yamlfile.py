"""Reading one YAML settings file, with one-line errors. Light: no pydantic here."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    """Bad configuration. ``str()`` is the one line shown to the operator; exit code 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # One line, whatever the operator's values contain (a path or value with a newline).
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))


def read_yaml(path: Path, label: str) -> dict:
    """The mapping in ``path``; ConfigError naming ``label`` for any problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{label}: is a folder, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{label}: cannot read the file ({exc.__class__.__name__})") from None
    try:
        data = yaml.safe_load(text)
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


def install_invoke_hook() -> None:
    """Make Invoke's own read of ``invoke -f FILE`` fail with one line and exit code 2.

    Invoke parses the runtime config file itself, after loading ``tasks.py`` and before any task
    runs; left alone, a broken file gives a Python traceback. This swaps in a loader that turns
    YAML and I/O errors into ``invoke.Exit(message, 2)``, which Invoke prints as one line.
    """
    from invoke import Exit
    from invoke.config import Config

    if getattr(Config, "_mlops_setup_hooked", False):
        return

    def _load_yaml(self: Any, path: str) -> Any:
        if not Path(path).exists():
            # Invoke probes invoke.yaml, invoke.yml, ... and skips missing ones on errno 2;
            # a missing -f FILE is reported by our own loader, which knows the file's role.
            raise FileNotFoundError(errno.ENOENT, "not found", path)
        try:
            return read_yaml(Path(path), str(path))
        except ConfigError as exc:
            raise Exit(f"config error: {exc}", code=2) from None

    Config._load_yaml = _load_yaml  # type: ignore[method-assign]
    Config._load_yml = _load_yaml  # type: ignore[attr-defined]
    Config._mlops_setup_hooked = True  # type: ignore[attr-defined]
