"""GitHub OIDC federation: CI that holds no Databricks credential (``ci.auth_mode: oidc``).

A GitHub Actions job asks GitHub for a short-lived OIDC token (``permissions: id-token:
write``) and the Databricks CLI exchanges it for a Databricks token of the service principal
(``DATABRICKS_AUTH_TYPE: github-oidc``). Databricks accepts the exchange only where a
*federation policy* of that SP says so. What this module makes, per environment (staging, prod):

* Databricks (account API, ``a.service_principal_federation_policy``): a policy with id
  ``github-actions-<env>`` on the environment's SP: issuer the OIDC issuer of ``github.host``
  (``https://token.actions.githubusercontent.com`` on github.com, ``https://HOST/_services/token``
  on GitHub Enterprise Server, ``https://token.actions.TENANT.ghe.com`` on GHE.com; see
  :mod:`mlops_setup.ghhost`), audience the Databricks account id (what the CLI asks GitHub for),
  subject ``repo:<owner>/<repo>:environment:<env>``: only jobs of that repo's ``<env>`` GitHub
  environment can act as the SP. A create answered 409 (the policy exists: a lost answer, a
  colleague's run) is adopted when it says the same, refused when it names another subject.
  Other GitHub policies on the SP (another repo, a branch subject) are warned about: they let
  someone else act as this SP, and we do not delete what we did not make.
* GitHub: the environments ``staging`` and ``prod``. ``prod`` may be deployed only from the
  project's release branch (``github.release_branch``, read from the generated project): a
  custom deployment branch policy naming that branch alone; any other branch policy on it is
  removed. ``ci.prod_reviewers`` (optional) become its required reviewers; left empty, the
  reviewers already there are left alone. ``staging`` has no branch lock (pull requests validate
  and test against it).
* GitHub Actions **variables** ``STAGING_DATABRICKS_CLIENT_ID`` / ``PROD_DATABRICKS_CLIENT_ID``:
  the SPs' application ids. Not secret, and nothing Databricks-side is stored as a secret.

Environments and branch policies are not wrapped by PyGithub 2.10 (it has no deployment branch
policy API), so they go through its requester with the REST paths of API version 2022-11-28.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from . import ENVIRONMENTS
from .changes import Plan, SetupError

ISSUER = "https://token.actions.githubusercontent.com"  # github.com's; see issuer()
PAGE = "ci.md#auth"
CLIENT_ID_VARIABLES = {
    "staging": "STAGING_DATABRICKS_CLIENT_ID",
    "prod": "PROD_DATABRICKS_CLIENT_ID",
}


def policy_id(env: str) -> str:
    return f"github-actions-{env}"


def issuer(settings: Any) -> str:
    """The issuer of the OIDC tokens of ``github.host``'s Actions jobs."""
    return settings.github.oidc_issuer


def subject(settings: Any, env: str) -> str:
    return f"repo:{settings.github.full_name}:environment:{env}"


def audience(settings: Any) -> str:
    return settings.databricks.account.id


@dataclass(frozen=True)
class Policy:
    """A GitHub-issuer federation policy of an SP, as the account lists it."""

    policy_id: str
    subject: str
    audiences: tuple[str, ...] = field(default=())

    def allows(self, settings: Any, env: str) -> bool:
        return self.subject == subject(settings, env) and audience(settings) in self.audiences

    @classmethod
    def of(cls, fp: Any, issuer: str = ISSUER) -> Policy | None:
        """The policy, if it trusts GitHub Actions tokens of ``issuer``; else None."""
        oidc = fp.oidc_policy
        if oidc is None or (oidc.issuer or "").rstrip("/") != issuer:
            return None
        return cls(fp.policy_id or "", oidc.subject or "", tuple(oidc.audiences or ()))


def github_policies(session: Any, sp: Any) -> list[Policy]:
    """The GitHub Actions federation policies of ``sp`` (cached per run)."""

    def load() -> list[Policy]:
        from .databricks_util import ApiErrors, sp_denied_fix

        with ApiErrors(
            session,
            "account",
            f"listing the federation policies of {sp.display_name}",
            denied_fix=sp_denied_fix(session, sp.env),
            page=PAGE,
        ):
            listed = session.clients.account.service_principal_federation_policy.list(
                service_principal_id=int(sp.id)
            )
            found = [Policy.of(fp, issuer(session.settings)) for fp in listed]
        return sorted((p for p in found if p is not None), key=lambda p: p.policy_id)

    return session.cached(f"federation.{sp.id}", load)


def _foreign(settings: Any, env: str, policy: Policy) -> SetupError:
    return SetupError(
        f"federation policy {policy.policy_id} of the {env} service principal lets "
        f"{policy.subject or 'an unknown subject'} act as it, not {subject(settings, env)}",
        fix="if it is a leftover (a renamed repo), delete it in the account console (User "
        "management > Service principals > Credentials & secrets), then run again; we never "
        "overwrite a policy we did not write",
        page=PAGE,
    )


def plan_policy(session: Any, plan: Plan, env: str, sp: Any) -> None:
    """Keep, or create, the policy that lets ``env``'s GitHub environment act as ``sp``."""
    settings = session.settings
    want = subject(settings, env)
    policies = github_policies(session, sp)
    ours = next((p for p in policies if p.policy_id == policy_id(env)), None)
    if ours is not None and not ours.allows(settings, env):
        raise _foreign(settings, env, ours)
    for other in policies:
        if other is not ours and not other.allows(settings, env):
            plan.warn(
                f"federation policy {other.policy_id} of SP {sp.display_name} also lets "
                f"{other.subject} act as it; left as it is (not ours)"
            )
    if ours is not None or any(p.allows(settings, env) for p in policies):
        found = ours or next(p for p in policies if p.allows(settings, env))
        plan.keep(f"federation policy {found.policy_id} of SP {sp.display_name}: {want}")
        return
    plan.add(
        "create",
        f"federation policy {policy_id(env)} of SP {sp.display_name}",
        lambda: _create_policy(session, env, sp),
        detail=want,
    )


def _create_policy(session: Any, env: str, sp: Any) -> str:
    from databricks.sdk.errors import ResourceAlreadyExists, ResourceConflict
    from databricks.sdk.service import oauth2

    from .databricks_util import ApiErrors, sp_denied_fix

    settings = session.settings
    a = session.clients.account.service_principal_federation_policy
    doing = f"creating federation policy {policy_id(env)} of {sp.display_name}"
    policy = oauth2.FederationPolicy(
        description=f"mlops-setup: GitHub Actions of {settings.github.full_name} ({env})",
        oidc_policy=oauth2.OidcFederationPolicy(
            issuer=issuer(settings), audiences=[audience(settings)], subject=subject(settings, env)
        ),
    )
    with ApiErrors(session, "account", doing, denied_fix=sp_denied_fix(session, env), page=PAGE):
        try:
            a.create(policy=policy, service_principal_id=int(sp.id), policy_id=policy_id(env))
            session.journal.made(  # setup.destroy deletes it
                "federation_policy",
                f"{sp.id}:{policy_id(env)}",
                env=env,
                sp_id=str(sp.id),
                policy_id=policy_id(env),
                display_name=sp.display_name,
            )
        except (ResourceAlreadyExists, ResourceConflict):
            # there already (an answer lost, a colleague's run): adopt it only if it says the same
            got = a.get(service_principal_id=int(sp.id), policy_id=policy_id(env))
            found = Policy.of(got, issuer(settings))
            if found is None or not found.allows(settings, env):
                other = f"tokens of another issuer than {issuer(settings)}"
                raise _foreign(settings, env, found or Policy(policy_id(env), other)) from None
            session.out.info(
                f"federation policy {policy_id(env)} of SP {sp.display_name} was already there "
                "with the same subject: adopted"
            )
    return policy_id(env)


def delete_policies(session: Any, env: str, sp: Any) -> None:
    """Remove the policy we made for ``env`` (switching away from oidc)."""
    from databricks.sdk.errors import NotFound

    from .databricks_util import ApiErrors, sp_denied_fix

    with (
        ApiErrors(
            session,
            "account",
            f"deleting federation policy {policy_id(env)} of {sp.display_name}",
            denied_fix=sp_denied_fix(session, env),
            page=PAGE,
        ),
        contextlib.suppress(NotFound),
    ):
        session.clients.account.service_principal_federation_policy.delete(
            service_principal_id=int(sp.id), policy_id=policy_id(env)
        )


# ------------------------------------------------------------------------------- GitHub


def _gh(repo: Any, method: str, path: str, body: Any = None) -> Any:
    """A raw call on the repo's API (environments, branch policies); None on 404 for a GET."""
    from github import UnknownObjectException

    try:
        _, data = repo._requester.requestJsonAndCheck(method, f"{repo.url}{path}", input=body)
    except UnknownObjectException:
        if method == "GET":
            return None
        raise
    return data


def _reviewer_ids(session: Any, logins: tuple[str, ...]) -> list[dict[str, Any]]:
    """``[{type, id}]`` for logins (users) and ``org/team`` slugs (teams)."""
    from github import UnknownObjectException

    gh = session.clients.github
    out = []
    for name in logins:
        try:
            if "/" in name:
                org, slug = name.split("/", 1)
                out.append(
                    {"type": "Team", "id": gh.get_organization(org).get_team_by_slug(slug).id}
                )
            else:
                out.append({"type": "User", "id": gh.get_user(name).id})
        except UnknownObjectException:
            raise SetupError(
                f"ci.prod_reviewers names {name}, which GitHub does not know",
                fix="name GitHub logins or org/team slugs that can see the repo",
                page=PAGE,
            ) from None
    return out


def _reviewers_of(body: dict) -> set[str]:
    found = set()
    for rule in body.get("protection_rules") or []:
        if rule.get("type") != "required_reviewers":
            continue
        for r in rule.get("reviewers") or []:
            who = r.get("reviewer") or {}
            if r.get("type") == "Team":
                org = ((who.get("organization") or {}).get("login")) or ""
                found.add(f"{org}/{who.get('slug', '')}".lower())
            else:
                found.add(str(who.get("login", "")).lower())
    return found


def plan_environments(session: Any, plan: Plan, repo: Any) -> None:
    """GitHub environments ``staging`` (open) and ``prod`` (the release branch only)."""
    settings = session.settings
    release = settings.github.release_branch
    reviewers = tuple(settings.ci.prod_reviewers)
    for env in ENVIRONMENTS:
        path = f"/environments/{quote(env, safe='')}"
        live = _gh(repo, "GET", path)
        if env == "staging":
            if live is None:
                plan.add(
                    "create",
                    "GitHub environment staging",
                    lambda p=path: _create_environment(session, repo, "staging", p, {}),
                )
            else:
                plan.keep("GitHub environment staging exists")
            continue
        lock = {"protected_branches": False, "custom_branch_policies": True}
        body: dict[str, Any] = {"deployment_branch_policy": lock}
        locked = live is not None and live.get("deployment_branch_policy") == lock
        have = _reviewers_of(live or {})
        want = {r.lower() for r in reviewers}
        reviewers_ok = not reviewers or have == want
        what = f"release branch {release} only" + (
            f", reviewers {', '.join(reviewers)}" if reviewers else ""
        )
        existing: dict[int, str] = {}
        if locked:
            listed = _gh(repo, "GET", f"{path}/deployment-branch-policies") or {}
            existing = {p["id"]: p["name"] for p in listed.get("branch_policies") or []}
        if live is None or not locked or not reviewers_ok:
            if reviewers:  # resolved now: a login GitHub does not know stops the plan
                body["reviewers"] = _reviewer_ids(session, reviewers)

            def put(p: str = path, b: dict = body, new: bool = live is None) -> Any:
                if new:  # made by us: setup.destroy deletes it
                    return _create_environment(session, repo, "prod", p, b)
                return _gh(repo, "PUT", p, b)

            plan.add(
                "create" if live is None else "update",
                "GitHub environment prod",
                put,
                detail=what,
            )
        else:
            who = f", reviewers {', '.join(sorted(have))}" if have else ""
            plan.keep(f"GitHub environment prod: deployment branches chosen by policy{who}")
        if release in existing.values():
            plan.keep(f"deployment branch policy of GitHub environment prod: {release}")
        else:
            plan.add(
                "add",
                f"deployment branch policy {release} to GitHub environment prod",
                lambda p=path: _gh(
                    repo,
                    "POST",
                    f"{p}/deployment-branch-policies",
                    {"name": release, "type": "branch"},
                ),
            )
        for pid, name in sorted(existing.items()):
            if name != release:
                plan.add(
                    "remove",
                    f"deployment branch policy {name} from GitHub environment prod",
                    lambda p=path, i=pid: _gh(
                        repo, "DELETE", f"{p}/deployment-branch-policies/{i}"
                    ),
                    detail=f"prod deploys from {release} only",
                )


def _create_environment(session: Any, repo: Any, env: str, path: str, body: dict) -> Any:
    """Create a GitHub environment, journaled so that ``setup.destroy`` removes it."""
    made = _gh(repo, "PUT", path, body)
    session.journal.made(
        "github_environment", f"{repo.full_name}:{env}", repo=repo.full_name, name=env
    )
    return made


def _create_variable(session: Any, repo: Any, name: str, value: str) -> Any:
    """Create an Actions variable, journaled so that ``setup.destroy`` removes it."""
    made = repo.create_variable(name, value)
    session.journal.made(
        "github_variable", f"{repo.full_name}:{name}", repo=repo.full_name, name=name
    )
    return made


def plan_variables(session: Any, plan: Plan, repo: Any, sps: dict[str, Any]) -> None:
    """``{STAGING,PROD}_DATABRICKS_CLIENT_ID`` Actions variables = the SPs' application ids."""
    live = {v.name: v.value for v in repo.get_variables()}
    for env in ENVIRONMENTS:
        name, value = CLIENT_ID_VARIABLES[env], sps[env].application_id
        if live.get(name) == value:
            plan.keep(f"variable {name} = {value}")
        elif name in live:
            plan.add(
                "update",
                f"variable {name}",
                lambda n=name, v=value: _gh(
                    repo, "PATCH", f"/actions/variables/{n}", {"name": n, "value": v}
                ),
                detail=f"{live[name]} -> {value}",
            )
        else:
            plan.add(
                "create",
                f"variable {name}",
                lambda n=name, v=value: _create_variable(session, repo, n, v),
                detail=value,
            )


def live_variables(repo: Any) -> dict[str, str]:
    return {v.name: v.value for v in repo.get_variables()}
