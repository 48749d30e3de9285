"""How CI authenticates to Databricks: ``ci.auth_mode`` (token | oauth | oidc).

``ci.secrets`` keeps its name (it is the guide's section) and stores what the mode needs; this
module holds what the modes beyond ``token`` add:

* ``token`` (the template's default): a workspace PAT of each SP on aws/gcp
  (``{STAGING,PROD}_WORKSPACE_TOKEN``); :mod:`.secrets`.
* ``oauth``: an OAuth secret of each SP (:mod:`.oauth`), ``{STAGING,PROD}_DATABRICKS_CLIENT_ID``
  and ``..._CLIENT_SECRET`` secrets.
* ``oidc``: GitHub OIDC federation (:mod:`mlops_setup.federation`): federation policies on the
  SPs, GitHub environments (prod locked to the release branch), the client ids as Actions
  variables; no Databricks secret in GitHub at all.

Every mode also stores ``WORKFLOW_TOKEN`` (deploy-cicd.yml checks out with it), as the token
mode does. Switching modes never leaves CI without a working credential: ``ci.secrets`` only
adds the new mode's credentials; the previous mode's stay until the workflows read the new ones.
"""

from __future__ import annotations

from ... import ENVIRONMENTS
from ...changes import Plan
from ...session import Session

PAGE = "ci.md#auth"


def plan_credentials(session: Session, dry_run: bool = False, rotate: bool = False) -> Plan:
    """``ci.secrets`` for ``ci.auth_mode`` oauth or oidc."""
    from .secrets import _repo, check_workflow_token, service_principal

    settings = session.settings
    mode = settings.ci.auth_mode
    plan = Plan("ci.secrets")
    repo = _repo(session)
    existing = {s.name: s for s in repo.get_secrets()}
    write_pat = check_workflow_token(session, existing, rotate, "nothing was changed")
    old = [n for n in settings.model.secrets if n.endswith(("_WORKSPACE_TOKEN", "_CLIENT_SECRET"))]
    old = [n for n in old if not (mode == "oauth" and n.endswith("_DATABRICKS_CLIENT_SECRET"))]
    if old:
        plan.warn(
            f"the project's workflows still read {', '.join(old)}: they keep working until "
            f"they are switched to {mode} (runbook ci.md#auth); then delete those secrets"
        )
    sps = {env: service_principal(session, env) for env in ENVIRONMENTS}
    if mode == "oidc":
        from ... import federation

        for env in ENVIRONMENTS:
            federation.plan_policy(session, plan, env, sps[env])
        federation.plan_environments(session, plan, repo)
        federation.plan_variables(session, plan, repo, sps)
        if rotate:
            plan.note("oidc stores no Databricks credential: --rotate rewrites WORKFLOW_TOKEN only")
    else:
        from .oauth import plan_oauth_secrets

        plan_oauth_secrets(session, plan, repo, existing, sps, dry_run=dry_run, rotate=rotate)
    from .secrets import plan_workflow_token

    plan_workflow_token(session, plan, repo, existing, write_pat)
    return plan
