"""The ``setup`` namespace: the whole guide in order.

* ``setup.all``: every step, prerequisites first. It stops at the first step that fails, prints
  that step's error and fix, then one line naming the step and how to go on
  (``setup.all: stopped at ci.secrets (step 7 of 14); ...``). A re-run resumes there: the steps
  before it find nothing to change and send no mutating request. The exit code is the failing
  step's (3 when a person must act first, such as approving a review).
* ``setup.plan``: every step as a dry run. A step that needs an earlier step's result (the repo
  that ``repo.create`` would make) says it "cannot be previewed yet" and the preview goes on.
  When nothing before it would change, its error is what an apply would stop at too: the
  preview stops there with that error, like ``setup.all``.
* ``setup.status``: one row per step, from a quiet dry run of it against the live systems:

  - ``done``: an apply would change nothing (the detail is its first warning, if any);
  - ``waiting``: on a person or a run (a review, checks, a CD run): the plan says so
    (``Plan.waiting``), or the dry run stopped with :class:`~mlops_setup.github_util.Waiting`;
  - ``missing``: something to do and nothing of it in place yet;
  - ``drifted``: something to do although it was in place: part of it still is (someone changed
    it, or a run stopped half way), or the setup was finished once (its last step, the
    hand-over issue, is in place) and this step no longer is;
  - ``blocked``: the dry run stopped with an error: an earlier step must run first, a right is
    missing, or something needs fixing by hand (the detail is the error's first line).

  ``--check`` exits 1 unless every step is done, for a scheduled drift check in CI; without it,
  ``setup.status`` exits 1 when a step is blocked (its state could not be read). "Done" means
  ``setup.all`` would change nothing: a ``release`` branch behind ``master`` is done (with a
  warning), because promoting to prod is a decision (``invoke release --update``), not drift.

Options that the guide implies for a full run are set here, per step (``STEP_OPTIONS``): the
CI/CD bootstrap PR and the ML code PR are merged, and the production jobs are enabled.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from invoke import Collection, Exit, task

from .changes import SetupError, first_line
from .console import plural
from .session import DRY_RUN_HELP

# What a full run asks of each step beyond its defaults (task name -> plan options).
STEP_OPTIONS: dict[str, dict[str, Any]] = {
    "ci.workflows": {"merge": True},
    "code.pr": {"merge": True},
    "deploy.jobs": {"enable": True},
}
STATES = ("done", "waiting", "missing", "drifted", "blocked")


def guide_steps() -> list[Any]:
    """Every step of the guide, in the guide's order."""
    from .sections import ci, code, deploy, handoff, release, repo

    first = list(ci.prerequisites.STEPS)  # read-only: check the rights before changing anything
    # deploy-cicd.yml runs once the project code is on the default branch (as the guide says);
    # for a project generated with its workflows, ci.workflows has nothing to do anyway.
    late = list(ci.workflows.STEPS)
    rest = [s for s in ci.STEPS if s not in first and s not in late]
    return [
        *first,
        *repo.STEPS,
        *rest,
        *code.STEPS,
        *late,
        *release.STEPS,
        *deploy.STEPS,
        *handoff.STEPS,
    ]


def options_for(step: Any) -> dict[str, Any]:
    import inspect

    wanted = STEP_OPTIONS.get(step.name, {})
    accepted = inspect.signature(step.plan).parameters
    return {k: v for k, v in wanted.items() if k in accepted}


# ----------------------------------------------------------------------------- setup.all/plan


class Stopped(SetupError):
    """The error of the step a run of the whole guide stopped at, followed by one line that
    names the step and says how to go on. Keeps the step's exit code (3: waiting on a person)."""

    def __init__(self, cause: SetupError, line: str) -> None:
        super().__init__(cause.message, fix=cause.fix, page=cause.page)
        self.cause = cause
        self.line = line
        self.exit_code = cause.exit_code

    def lines(self) -> list[str]:
        return [*self.cause.lines(), self.line]


def _as_setup_error(exc: Exception) -> SetupError | None:
    """``exc`` as a :class:`SetupError`: ours as they are, an API error nobody translated as
    the one line ``failures_as_exit`` would print; None for anything else (a bug: re-raised)."""
    from .session import api_error_text

    if isinstance(exc, SetupError):
        return exc
    text = api_error_text(exc)
    if text is None:
        return None
    return SetupError(text, fix="see the runbook page of this step")


def _is_waiting(exc: SetupError) -> bool:
    from .github_util import Waiting

    return isinstance(exc, Waiting)


@dataclass
class _Ran:
    plan: Any  # the step's Plan, or None when it stopped with an error
    error: SetupError | None = None


def _run_one(session: Any, step: Any, *, dry_run: bool) -> _Ran:
    """Header, plan, show, apply (unless ``dry_run``), as a single task does; keeps the Plan."""
    from .session import Step, run_in_session

    seen: list[Any] = []

    def plan(s: Any, **options: Any) -> Any:
        seen.append(step.plan(s, **options))
        return seen[-1]

    try:
        run_in_session(
            session, Step(step.name, step.title, plan), dry_run=dry_run, **options_for(step)
        )
    except Exception as exc:
        error = _as_setup_error(exc)
        if error is None:
            raise
        return _Ran(seen[-1] if seen else None, error)
    return _Ran(seen[-1])


def run_all(session: Any, *, dry_run: bool) -> None:
    """Every step in order; stops at the first failure (see the module docstring)."""
    steps = guide_steps()
    task_name = "setup.plan" if dry_run else "setup.all"
    changes = 0
    deferred = 0  # steps that cannot be previewed before earlier steps run
    pending = False  # an earlier step would change something, waits, or could not be previewed
    for index, step in enumerate(steps):
        ran = _run_one(session, step, dry_run=dry_run)
        if ran.error is not None:
            waiting = _is_waiting(ran.error)
            if dry_run and (pending or waiting):
                session.out.warning(
                    f"{step.name} cannot be previewed yet: {first_line(ran.error.message)}"
                )
                deferred += 1
                pending = True
                continue
            where = f"{task_name}: stopped at {step.name} (step {index + 1} of {len(steps)})"
            if dry_run:
                line = f"{where}: an apply would stop there too"
            else:
                when = "once that is done" if waiting else "once that is fixed"
                line = f"{where}; run `invoke {task_name}` again {when}: it resumes there"
            raise Stopped(ran.error, line) from None
        plan = ran.plan
        changes += len(plan.changes)
        pending = pending or bool(plan.changes) or bool(getattr(plan, "waiting", ""))
    if deferred:
        session.out.warning(
            f"{plural(deferred, 'step')} cannot be previewed before the steps above run"
        )
    session.out.summary(task_name, changes, 0, dry_run=dry_run)


# ------------------------------------------------------------------------------- setup.status


DETAIL_WIDTH = 120  # the detail column's text is clipped to this, before "(+N more)"


def _more(lines: list[str]) -> str:
    """The first of ``lines`` (clipped), and how many more there are."""
    first = first_line(lines[0])
    if len(first) > DETAIL_WIDTH:
        first = first[: DETAIL_WIDTH - 3].rstrip() + "..."
    return first + (f" (+{len(lines) - 1} more)" if len(lines) > 1 else "")


def step_status(session: Any, step: Any, *, finished: bool = False) -> tuple[str, str]:
    """(state, detail) of one step, from a quiet dry run of its plan. ``finished``: the setup
    has been finished once, so a step with something to do has drifted (see the module
    docstring)."""
    from .console import Console

    loud = session.out
    session.out = Console(stream=io.StringIO(), err=io.StringIO())
    try:
        plan = step.plan(session, dry_run=True, **options_for(step))
    except Exception as exc:
        error = _as_setup_error(exc)
        if error is None:
            raise
        return ("waiting" if _is_waiting(error) else "blocked"), _more([error.message])
    finally:
        session.out = loud
    waiting = getattr(plan, "waiting", "")
    if waiting:
        return "waiting", waiting
    if not plan.changes:
        if plan.warnings:
            return "done", _more(plan.warnings)
        return "done", f"{len(plan.kept)} in place" if plan.kept else ""
    state = "drifted" if plan.kept or finished or getattr(plan, "drifted", False) else "missing"
    return state, _more([c.line() for c in plan.changes])


def statuses(session: Any) -> list[tuple[str, str, str]]:
    """(step, state, detail) for every step, in the guide's order."""
    steps = guide_steps()
    last = step_status(session, steps[-1])
    finished = last[0] == "done"
    rows = []
    for step in steps[:-1]:
        rows.append((step.name, *step_status(session, step, finished=finished)))
    rows.append((steps[-1].name, *last))
    return rows


# -------------------------------------------------------------------------------------- tasks


@task(name="all", help={"dry_run": DRY_RUN_HELP})
def all_(c, dry_run=False):
    """Run the whole guide in order; a re-run resumes where it stopped."""
    from .session import failures_as_exit, open_session

    with open_session(c) as session, failures_as_exit():
        run_all(session, dry_run=dry_run)


@task(name="plan")
def plan_(c):
    """Preview the whole guide: every step with --dry-run."""
    from .session import failures_as_exit, open_session

    with open_session(c) as session, failures_as_exit():
        run_all(session, dry_run=True)


@task(help={"check": "Exit 1 unless every step is done (for a drift check in CI)."})
def status(c, check=False):
    """Show each step as done, missing, drifted, waiting or blocked."""
    from .session import failures_as_exit, open_session

    with open_session(c) as session, failures_as_exit():
        rows = statuses(session)
        session.out.table(rows, ("step", "state", "detail"))
    undone = [state for _, state, _ in rows if state != "done"]
    if check and undone:
        counts = ", ".join(f"{undone.count(s)} {s}" for s in STATES if s in undone)
        session.out.error([f"setup.status: {len(undone)} of {len(rows)} steps not done ({counts})"])
        raise Exit(code=1)
    blocked = undone.count("blocked")
    if blocked:  # the state of those steps could not be read: never a silent success
        session.out.error(
            [f"setup.status: {blocked} of {len(rows)} steps blocked (see the detail column)"]
        )
        raise Exit(code=1)


ns = Collection("setup", all_, plan_, status)
