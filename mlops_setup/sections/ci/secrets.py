"""ci.secrets: not built yet."""

from __future__ import annotations

from invoke import Exit, task

from ...session import DRY_RUN_HELP


@task(name="secrets", help={"dry_run": DRY_RUN_HELP})
def secrets(c, dry_run=False):
    """Not built yet: exits with an error."""
    raise Exit("ci.secrets is not built yet; do this step by hand (see the MLOps Setup Guide)", 1)


STEPS = ()
