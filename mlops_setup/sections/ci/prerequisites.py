"""ci.prerequisites: not built yet."""

from __future__ import annotations

from invoke import Exit, task

from ...session import DRY_RUN_HELP


@task(name="prerequisites", help={"dry_run": DRY_RUN_HELP})
def prerequisites(c, dry_run=False):
    """Not built yet: exits with an error."""
    raise Exit(
        "ci.prerequisites is not built yet; do this step by hand (see the MLOps Setup Guide)", 1
    )


STEPS = ()
