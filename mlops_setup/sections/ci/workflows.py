"""ci.workflows: not built yet."""

from __future__ import annotations

from invoke import Exit, task

from ...session import DRY_RUN_HELP


@task(name="workflows", help={"dry_run": DRY_RUN_HELP})
def workflows(c, dry_run=False):
    """Not built yet: exits with an error."""
    raise Exit("ci.workflows is not built yet; do this step by hand (see the MLOps Setup Guide)", 1)


STEPS = ()
