"""Writes whose answer was lost: applied or not, the live system says, never a guess.

A write can reach the server, be carried out, and still fail on the way back: a gateway timeout
(502/504), a 500 after the commit, a dropped connection, the client's retries running out. Read
as "failed", such a write gets repeated (a second issue, a second workflow run) or undone (a
token revoked while the secret holds it). So every mutating call goes through :func:`confirm`:

* an error that proves nothing was done (a 4xx: refused, not found, conflict) passes through
  for the caller to explain;
* an error after which the write may have been carried out (:func:`may_have_applied`) is
  followed by a fresh read of the truth (``check``): if the result is in place, the write
  counts as done and the step goes on, noting it; if not, the error says so and that a re-run
  looks first (never a blind repeat of a create); if the read fails too, the outcome is
  unknown, and the caller must treat it as possibly applied.

PyGithub's retry policy would repeat a POST after a 5xx (an issue, a ref, a dispatch made twice),
so the GitHub client uses :func:`github_retry`: reads and rate limits are retried as before, a
write that met a 5xx or a lost connection is not: :func:`confirm` decides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .changes import SetupError, first_line

T = TypeVar("T")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Unknown(SetupError):
    """A write may or may not have been carried out, and the read that would tell failed too."""


def github_retry(total: int = 5) -> Any:
    """PyGithub's retry policy, minus blind repeats of writes whose answer was lost."""
    from github import GithubRetry

    class WriteSafeRetry(GithubRetry):
        def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
            if (method or "").upper() in WRITES and status_code >= 500:
                return False  # it may have been carried out: confirm() reads before deciding
            return super().is_retry(method, status_code, has_retry_after)

        def increment(self, method: Any = None, url: Any = None, *args: Any, **kwargs: Any) -> Any:
            error = kwargs.get("error")
            if (
                error is not None
                and (method or "").upper() in WRITES
                and self._is_read_error(error)  # sent, answer lost: not "could not connect"
            ):
                raise error
            return super().increment(method, url, *args, **kwargs)

    return WriteSafeRetry(total=total)


def may_have_applied(exc: BaseException) -> bool:
    """Could the write that raised ``exc`` have been carried out all the same?"""
    status = _status(exc)
    if status is not None:
        return status >= 500 or status in (408,)
    from .netcheck import transport_error_text

    if isinstance(exc, TimeoutError) or transport_error_text(exc) is not None:
        return True
    name = type(exc).__name__
    return name in ("DeadlineExceeded", "InternalError", "TemporarilyUnavailable", "Unknown")


def _status(exc: BaseException) -> int | None:
    """The HTTP status of a GitHub or Microsoft Graph error (their ``status``); None for the
    others."""
    module = type(exc).__module__ or ""
    known = module.startswith("github") or module == "mlops_setup.entra"
    status = getattr(exc, "status", None) if known else None
    return status if isinstance(status, int) else None


def describe(exc: BaseException) -> str:
    """``502 (Bad Gateway)``-like words for a lost answer, never a value."""
    status = _status(exc)
    if status is not None:
        from http import HTTPStatus

        try:
            return f"{status} ({HTTPStatus(status).phrase})"
        except ValueError:
            return str(status)
    kinds = {"DeadlineExceeded": 504, "InternalError": 500, "TemporarilyUnavailable": 503}
    name = type(exc).__name__
    if name in kinds:
        return f"{kinds[name]} ({name})"
    if isinstance(exc, TimeoutError):
        return "a timeout (the client's retries ran out)"
    return f"a lost connection ({name})"


def confirm(
    write: Callable[[], T],
    check: Callable[[], Any],
    what: str,
    *,
    fix: str,
    page: str,
    note: Callable[[str], None] | None = None,
) -> T | Any:
    """Run ``write``; if it fails in a way it may have been applied, return ``check()`` when
    that finds the result in place (not None), else raise a :class:`SetupError` that says a
    re-run looks first. ``check`` failing too raises :class:`Unknown`. Other errors pass."""
    try:
        return write()
    except Exception as exc:
        if not may_have_applied(exc):
            raise
        how = describe(exc)
        try:
            found = check()
        except Exception as again:  # noqa: BLE001 - the outcome is unknown: say so
            raise Unknown(
                f"{what} failed with {how}, and reading whether it was carried out failed too "
                f"({first_line(again) or type(again).__name__}); it may have been",
                fix=fix,
                page=page,
            ) from None
        if found is None:
            raise SetupError(
                f"{what} failed with {how}, and it is not in place (yet); it may still be "
                "carried out",
                fix=fix,
                page=page,
            ) from None
        if note is not None:
            note(f"{what}: the answer was lost ({how}), but it was carried out: kept")
        return found
