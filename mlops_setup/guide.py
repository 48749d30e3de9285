"""The ``setup`` namespace: the whole guide in order.

* ``setup.all``: every step, prerequisites first; stops at the first failure and says what to do
  next. A re-run resumes: steps that are done plan no change and send no mutating request.
* ``setup.plan``: every step as a dry run. A step that needs an earlier step's result (the repo
  that ``repo.create`` would make) says what it is waiting for instead of failing the preview.
* ``setup.status``: one row per step, read from the live systems: ``done`` (nothing to change),
  ``missing`` (nothing of it in place yet), ``drifted`` (partly in place: someone changed it, or
  it stopped half way), ``waiting`` (on a person or a run: a review, a workflow),
  ``blocked`` (an earlier step must run first, or a right is missing). ``--check`` exits 1
  unless every step is done, for a scheduled drift check in CI.

Options that the guide implies for a full run are set here, per step (``STEP_OPTIONS``): the
CI/CD bootstrap PR and the ML code PR are merged, and the production jobs are enabled.
"""

from __future__ import annotations

import io
from typing import Any

from invoke import Collection, Exit, task

from .session import DRY_RUN_HELP

# What a full run asks of each step beyond its defaults (task name -> plan options).
STEP_OPTIONS: dict[str, dict[str, Any]] = {
    "ci.workflows": {"merge": True},
    "code.pr": {"merge": True},
    "deploy.jobs": {"enable": True},
}


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


def run_all(session: Any, *, dry_run: bool) -> None:
    from .changes import SetupError
    from .session import run_in_session

    steps = guide_steps()
    for index, step in enumerate(steps):
        try:
            run_in_session(session, step, dry_run=dry_run, **options_for(step))
        except SetupError as exc:
            if dry_run:
                session.out.warning(f"{step.name} cannot be previewed yet: {exc.message}")
                continue
            rest = [s.name for s in steps[index + 1 :]]
            exc.fix = (exc.fix + "; " if exc.fix else "") + (
                f"then run `invoke setup.all` again: it resumes at {step.name}"
                + (f" (not run yet: {', '.join(rest)})" if rest else "")
            )
            raise


def step_status(session: Any, step: Any) -> tuple[str, str]:
    """(state, detail) of one step, from a quiet dry run of its plan."""
    from .changes import SetupError
    from .console import Console

    quiet = session.out
    session.out = Console(stream=io.StringIO(), err=io.StringIO())
    try:
        plan = step.plan(session, dry_run=True, **options_for(step))
    except SetupError as exc:
        return "blocked", exc.message
    finally:
        session.out = quiet
    waiting = getattr(plan, "waiting", "")
    if waiting:
        return "waiting", waiting
    if not plan.changes:
        return "done", f"{len(plan.kept)} in place" if plan.kept else ""
    first = plan.changes[0].line()
    more = f" (+{len(plan.changes) - 1} more)" if len(plan.changes) > 1 else ""
    return ("drifted" if plan.kept else "missing"), first + more


@task(name="all", help={"dry_run": DRY_RUN_HELP})
def all_(c, dry_run=False):
    """Run the whole guide in order; a re-run resumes where it stopped."""
    from .session import failures_as_exit, load_session

    with failures_as_exit():
        session = load_session(c)
        run_all(session, dry_run=dry_run)


@task(name="plan")
def plan_(c):
    """Preview the whole guide: every step with --dry-run."""
    from .session import failures_as_exit, load_session

    with failures_as_exit():
        session = load_session(c)
        run_all(session, dry_run=True)


@task(help={"check": "Exit 1 unless every step is done (for a drift check in CI)."})
def status(c, check=False):
    """Show each step as done, missing, drifted, waiting or blocked."""
    from .session import failures_as_exit, load_session

    with failures_as_exit():
        session = load_session(c)
        rows = []
        for step in guide_steps():
            state, detail = step_status(session, step)
            rows.append((step.name, state, detail))
        session.out.table(rows, ("step", "state", "detail"))
    if check and any(state != "done" for _, state, _ in rows):
        raise Exit(code=1)


ns = Collection("setup", all_, plan_, status)
