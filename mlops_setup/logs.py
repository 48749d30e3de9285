"""``-v``/``--verbose``: the SDKs' debug logs on stderr, with every credential masked.

databricks-sdk, PyGithub, urllib3 and GitPython log their requests at DEBUG; we show them
through one handler whose formatter masks, in every record, before it is written:

* the values of the credentials this process holds (``GITHUB_TOKEN``, ``GH_TOKEN``,
  ``DATABRICKS_TOKEN``, ``DATABRICKS_CLIENT_SECRET``, ``WORKFLOW_TOKEN`` and any variable
  whose name says token, secret or password), read when the record is written;
* values under secret-bearing keys (``token_value``, ``secret``, ``access_token``,
  ``client_secret``, ``encrypted_value``, ``password``, ...), in JSON, Python reprs or
  ``key=value`` form, and ``Authorization`` headers;
* anything credential-shaped (Databricks ``dapi``/``dose`` tokens, GitHub ``ghp_``/``gh?_``/
  ``github_pat_`` tokens, JWTs, ``Bearer`` values).

The databricks-sdk logger stays at INFO while a token is minted (``ci.secrets``), as without
``-v``. ``tests/test_leaks.py`` runs a full setup with this handler and finds no credential.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any, TextIO

MASK = "<scrubbed>"  # the placeholder of the recorded cassettes (replay.PLACEHOLDER)
LOGGERS = ("databricks", "github", "urllib3", "git", "mlops_setup")
_KEYS = (
    "token_value|access_token|refresh_token|id_token|client_secret|secretText|secret|"
    "encrypted_value|password|private_key|token"
)
_PATTERNS = (
    # "key": "value" / 'key': 'value' (JSON, Python reprs), also with escaped quotes
    re.compile(rf"""(\\?["'](?:{_KEYS})\\?["']\s*:\s*\\?["'])([^"'\\]+)"""),
    # key=value (form bodies, query strings)
    re.compile(rf"""((?<![A-Za-z_])(?:{_KEYS})=)([^&\s"',]+)"""),
    # Authorization headers in any notation
    re.compile(r"""((?i:authorization)["']?\s*[:=]\s*["']?)([^"'\n,}]+)"""),
    re.compile(r"""((?i:\bbearer|\btoken|\bbasic)\s+)([A-Za-z0-9._~+/=-]{12,})"""),
)
_SHAPES = re.compile(
    r"dapi[0-9a-f]{32}|dose[0-9a-f]{32}|ghp_[A-Za-z0-9]{36}|gh[osur]_[A-Za-z0-9]{36}|"
    r"github_pat_[A-Za-z0-9_]{40,}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*"
)
_SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|PAT\b", re.IGNORECASE)


def held_secrets(env: Any = None) -> list[str]:
    """The credential values in the environment (longest first, so none is half-masked)."""
    env = os.environ if env is None else env
    values = {v for k, v in env.items() if _SECRET_ENV.search(k) and len(v) >= 8}
    return sorted(values, key=len, reverse=True)


def mask(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every credential replaced by ``<scrubbed>``."""
    for value in held_secrets() if secrets is None else secrets:
        text = text.replace(value, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return _SHAPES.sub(MASK, text)


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


class VerboseHandler(logging.StreamHandler):
    """Our handler (a subclass, so code that drops plain StreamHandlers leaves it alone)."""


_handler: logging.Handler | None = None


def enable_verbose(stream: TextIO | None = None) -> logging.Handler:
    """Debug logs of the SDKs on ``stream`` (stderr), masked; a second call changes nothing."""
    global _handler  # noqa: PLW0603 - one handler per process
    if _handler is not None:
        return _handler
    handler = VerboseHandler(stream or sys.stderr)
    handler.setFormatter(MaskingFormatter("debug: %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
        logger.propagate = False
    _handler = handler
    return handler


def disable_verbose() -> None:
    """Undo :func:`enable_verbose` (tests)."""
    global _handler  # noqa: PLW0603
    if _handler is None:
        return
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.removeHandler(_handler)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    _handler = None


def verbose() -> bool:
    return _handler is not None
