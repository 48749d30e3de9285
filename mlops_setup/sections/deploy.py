"""Guide section: not built yet."""

from __future__ import annotations

from invoke import Collection, Exit, task

from ..session import DRY_RUN_HELP

STEPS = ()


@task(name="all", default=True, help={"dry_run": DRY_RUN_HELP})
def all_(c, dry_run=False):
    """Not built yet: exits with an error."""
    raise Exit("deploy is not built yet; do this step by hand (see the guide)", 1)


ns = Collection("deploy", all_)
