"""Glue between Invoke tasks and the plain step functions.

A section module defines :class:`Step` objects (name, title, a ``plan(session, **options)``
function) and thin Invoke tasks that call :func:`run_step`. ``setup.all`` runs the same steps in
order with one shared :class:`Session`, so clients and lookups are reused.

What a run depends on from outside (environment, sleep, clock) sits in a :class:`Runtime`, which
the demo and the tests swap (:func:`use_runtime`) so that nothing sleeps and time is fixed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from invoke import Exit

from .changes import Outcome, Plan, SetupError, execute
from .console import Console

DRY_RUN_HELP = "Show what would change, change nothing."


@dataclass
class Runtime:
    env: dict[str, str] | None = None
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    cwd: str | None = None
    out: Console | None = None
    # host, port, budget -> None if reachable, else the likely cause (mlops_setup.netcheck);
    # None: a real TCP connection. The demo and replayed tests answer from the cassette.
    probe: Callable[[str, int, float], str | None] | None = None
    azure_credential: Any = None  # azure-identity credential; None = DefaultAzureCredential


_runtime = Runtime()


@contextlib.contextmanager
def use_runtime(runtime: Runtime) -> Iterator[Runtime]:
    global _runtime  # noqa: PLW0603 - one process-wide runtime, swapped by the demo and tests
    previous, _runtime = _runtime, runtime
    try:
        yield runtime
    finally:
        _runtime = previous


def current_runtime() -> Runtime:
    return _runtime


@dataclass
class Step:
    """One step of the guide: ``name`` is the Invoke task name (``ci.secrets``)."""

    name: str
    title: str
    plan: Callable[..., Plan]


class Session:
    """Settings, clients, console, journal, clock and sleep for one run."""

    def __init__(self, settings: Any, runtime: Runtime | None = None) -> None:
        from .clients import Clients
        from .journal import Journal

        self.runtime = runtime or _runtime
        self.settings = settings
        self.env = dict(os.environ if self.runtime.env is None else self.runtime.env)
        self.clients = Clients(settings, env=self.env, probe=self.runtime.probe)
        self.clients.azure_credential = self.runtime.azure_credential
        self.clients.sleep = self.sleep
        self.out = self.runtime.out or Console()
        self.journal = Journal.for_settings(settings)
        self.journal.check()  # one written by a newer mlops-setup stops us before any call
        self.cache: dict[str, Any] = {}
        self.lock: Any = None

    def acquire(self) -> Session:
        """Take the run lock of the state folder (:mod:`mlops_setup.lock`); :class:`SetupError`
        naming the holder if another run has it."""
        from pathlib import Path

        from .lock import RunLock

        if self.lock is None:
            self.lock = RunLock(Path(self.settings.state_dir), self.now()).acquire()
        return self

    def close(self) -> None:
        """Release the run lock (a no-op if not held)."""
        lock, self.lock = self.lock, None
        if lock is not None:
            lock.release()

    def sleep(self, seconds: float) -> None:
        self.runtime.sleep(seconds)

    def now(self) -> dt.datetime:
        return self.runtime.now()

    def backoff(self, timeout: float | None = None, first: float | None = None) -> Any:
        from .backoff import Backoff

        ci = self.settings.ci
        return Backoff(
            first=ci.poll_min if first is None else first,
            cap=ci.poll_max,
            timeout=ci.wait_timeout if timeout is None else timeout,
            sleep=self.sleep,
        )

    def show_path(self, path: Any) -> str:
        """A path as the operator should read it: relative to the working directory if inside."""
        from pathlib import Path

        base = Path(self.runtime.cwd or os.getcwd()).resolve()
        try:
            rel = Path(path).resolve().relative_to(base)
        except (ValueError, OSError):
            return str(path)
        return rel.as_posix() or "."

    def cached(self, key: str, load: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = load()
        return self.cache[key]


def load_session(c: Any = None, overrides: dict[str, Any] | None = None) -> Session:
    from .config import load_settings

    rt = _runtime
    invoke_config = getattr(c, "config", None)
    settings = load_settings(invoke_config, overrides, env=rt.env, cwd=rt.cwd)
    return Session(settings, rt).acquire()


@contextlib.contextmanager
def open_session(c: Any = None, overrides: dict[str, Any] | None = None) -> Iterator[Session]:
    """A session for one task, holding the run lock until the task ends."""
    with failures_as_exit():
        session = load_session(c, overrides)
    try:
        yield session
    finally:
        session.close()


def run_step(
    c: Any,
    step: Step,
    *,
    dry_run: bool = False,
    overrides: dict[str, Any] | None = None,
    session: Session | None = None,
    **options: Any,
) -> Outcome:
    """Run one step as a task: plan, show, apply; failures become one clear message + exit."""
    if session is None:
        with open_session(c, overrides) as own:
            return run_step(c, step, dry_run=dry_run, session=own, **options)
    with failures_as_exit(session.out):
        return run_in_session(session, step, dry_run=dry_run, **options)


def run_steps(c: Any, steps: Any, *, dry_run: bool = False, **options: Any) -> list[Outcome]:
    """Run several steps in order with one session (one set of clients and lookups)."""
    with open_session(c) as session:
        return [run_step(c, step, dry_run=dry_run, session=session, **options) for step in steps]


def run_in_session(session: Session, step: Step, *, dry_run: bool, **options: Any) -> Outcome:
    session.out.header(step.name, step.title)
    plan = step.plan(session, dry_run=dry_run, **options)
    return execute(plan, session.out, dry_run=dry_run)


@contextlib.contextmanager
def failures_as_exit(out: Console | None = None) -> Iterator[None]:
    """Turn our errors, and API errors nobody translated, into a message and an exit code."""
    from .config import ConfigError

    out = out or _runtime.out or Console()
    try:
        yield
    except ConfigError as exc:
        out.error([f"config error: {exc}"])
        raise Exit(code=exc.exit_code) from None
    except SetupError as exc:
        out.error(exc.lines())
        raise Exit(code=exc.exit_code) from None
    except Exception as exc:
        text = api_error_text(exc)
        if text is None:
            raise
        if text.startswith(CANNOT_REACH):  # one line: the host and the cause say it all
            out.error([f"error: {text}; check your network, VPN or proxy, then run again"])
        else:
            out.error([f"error: {text}", "  fix: see the runbook page of this step"])
        raise Exit(code=1) from None


CANNOT_REACH = "cannot reach "


def api_error_text(exc: BaseException) -> str | None:
    """A one-line description of a Databricks or GitHub API error, or None for other errors."""
    module = type(exc).__module__
    if module.startswith("databricks."):
        code = getattr(exc, "error_code", None) or type(exc).__name__
        return f"Databricks API: {code}: {str(exc).splitlines()[0] if str(exc) else ''}"
    if module.startswith("github."):
        status = getattr(exc, "status", "?")
        data = getattr(exc, "data", None)
        message = data.get("message") if isinstance(data, dict) else str(exc)
        return f"GitHub API: {status}: {message}"
    from .netcheck import transport_error_text

    transport = transport_error_text(exc)  # requests/urllib3/httpx, however deeply wrapped
    return None if transport is None else CANNOT_REACH + transport
