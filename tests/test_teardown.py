"""``setup.destroy`` (mlops_setup/teardown.py): a full setup, then its teardown.

Each test runs the whole guide against the fake first (so the journal holds what the setup made),
then destroys it. While composing, the fake's state is compared before the setup and after the
destroy: equal, but for what a destroy keeps (``KEPT``). In replay the same exchanges play back:
the assertions on the lines, the requests and the journal hold in both modes.

Other principals' objects are present throughout (``seed_others``): an SP with a token and
grants on the same catalogs, a group's grant, a secret set by hand, the repo's prior workflow
permissions; none of them is touched.
"""

from __future__ import annotations

import copy
import json

import pytest

from mlops_setup import teardown
from tests import github_samples as samples
from tests.conftest import change_lines, make_project, mutating
from tests.fakeapi import (
    World,
    databricks_iam,
    databricks_tokens,
    databricks_uc,
    github_actions,
    github_repos,
)
from tests.test_faults import BAD_GATEWAY, gateway_timeout, lose_answer
from tests.test_setup import checks_pass, sections

P = "my-mlops-project"
REPO = f"acme/{P}"
GH = f"https://api.github.com/repos/{REPO}"
ACCOUNT = (
    "https://accounts.cloud.databricks.com/api/2.0/accounts/0d2c1e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
)
STAGING = "https://staging.cloud.databricks.com"
PROD = "https://prod.cloud.databricks.com"
GRANT = "USE_CATALOG, USE_SCHEMA, MODIFY, CREATE_MODEL, CREATE_TABLE"
OTHER_SP = "analytics-etl"
# What a destroy leaves in place on purpose: the ML code and its history (the pull requests,
# their checks, the hand-over issue, the workflow runs, the deployed jobs; git itself is the
# bare repo, not in these tables), and the schemas the setup created (they may hold data).
# ``minted`` is the fake's in-memory record of token values, ``git_dir`` a path,
# ``branch_policy_serial`` the fake's counter of branch policy ids (GitHub never reuses one).
KEPT_GH = {"pulls", "checks", "check_polls", "issues", "next_number", "runs", "git_dir"}
KEPT_GH |= {"branch_policy_serial"}
KEPT_DB = {"schemas", "jobs", "minted"}


@pytest.fixture
def project(tmp_path, clean_env, world):
    """The example project generated with its CI/CD workflows (CICD_and_Project)."""
    made = make_project(tmp_path, with_cicd=True)
    world.gh["git_dir"] = str(made.upstream)
    return made


def seed_others(world: World, *, repo: bool = True) -> dict:
    """Objects someone else made, present before the setup: they must survive the destroy."""
    other = databricks_iam.add_service_principal(world, OTHER_SP, assigned_to=("staging",))
    app = other["applicationId"]
    databricks_uc.add_grant(world, "catalog", "staging", app, "USE_CATALOG", "SELECT")
    databricks_uc.add_grant(world, "catalog", "prod", "data-scientists", "USE_CATALOG")
    databricks_tokens.add_token(
        world,
        "staging.cloud.databricks.com",
        sp_id=int(other["id"]),
        application_id=app,
        comment="analytics nightly",
    )
    if repo:
        github_repos.add_repo(world, REPO)  # made by hand, before the setup
        github_actions.add_secret(world, REPO, "SLACK_WEBHOOK")
        github_actions.permissions(world)[REPO] = dict(samples.workflow_permissions())
    return other


def _pruned(value):
    """``value`` without empty containers (a table the fake made empty equals one it never
    made) and with sets as sorted lists."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ({}, [], set(), None)}
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def state_of(world: World) -> dict:
    """The fake's account, workspaces and repos, less what a destroy keeps."""
    db = {k: v for k, v in world.db.items() if k not in KEPT_DB}
    gh = {k: v for k, v in world.gh.items() if k not in KEPT_GH}
    return json.loads(json.dumps(_pruned(copy.deepcopy({"db": db, "gh": gh})), default=str))


def fill_defaults(world: World) -> None:
    """Let the fake fill in its defaults (a fresh account) before the 'before' snapshot."""
    databricks_iam.state(world)
    databricks_uc.state(world)
    github_repos.accounts(world)


def setup_all(cli, world) -> None:
    checks_pass(world)
    result = cli("setup.all")
    assert result.code == 0, result.err


def journal(project) -> dict:
    path = project.root / ".mlops-setup" / "journal.json"
    return json.loads(path.read_text())


# what a destroy undoes after a full setup, in order (a pre-existing repo: it stays)
DESTROYED = {
    "ci.workflow-permissions": [
        f"restore workflow permissions of {REPO} (read and write -> read; Actions may no "
        "longer create and approve PRs)"
    ],
    "ci.secrets": [
        "delete secret WORKFLOW_TOKEN (written by mlops-setup)",
        "delete secret PROD_WORKSPACE_TOKEN (written by mlops-setup)",
        "delete secret STAGING_WORKSPACE_TOKEN (written by mlops-setup)",
    ],
    "ci.permissions": [
        f"revoke {GRANT} on catalog test from SP staging-{P}",
        f"revoke {GRANT} on catalog prod from SP prod-{P}",
        f"revoke {GRANT} on catalog staging from SP staging-{P}",
    ],
    "ci.service-principals": [
        f"remove SP prod-{P} from workspace prod (assigned by mlops-setup)",
        f"remove SP staging-{P} from workspace staging (assigned by mlops-setup)",
    ],
    "repo.create": [],
}


def _tokens_revoked(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("revoke token ")]


@pytest.mark.vcr
def test_setup_then_destroy_leaves_everything_as_it_was_but_what_stays(
    cli, project, world, http, fake_api
):
    other = seed_others(world)
    fill_defaults(world)
    before = state_of(world)
    setup_all(cli, world)
    made = len(mutating(http()))

    preview = cli("setup.plan", "--destroy")
    dry = cli("setup.destroy", "--dry-run")
    assert preview.code == dry.code == 0, preview.err + dry.err
    assert preview.out == dry.out  # the same plan, twice
    assert len(mutating(http())) == made  # previews change nothing
    assert dry.out.splitlines()[-1] == "setup.destroy: 0 to add, 1 to change, 12 to destroy"

    result = cli("setup.destroy")
    assert result.code == 0, result.err
    assert change_lines(result.out) == change_lines(dry.out)  # plan = apply
    out = sections(result.out)
    assert list(out) == list(DESTROYED)
    for step, lines in DESTROYED.items():
        found = change_lines(out[step])
        if step == "ci.secrets":  # then the two tokens of ours, by their comment
            tokens = _tokens_revoked(found)
            assert len(tokens) == 2 and found == lines + tokens, found
            assert [t.split(" of SP ")[1].split(" (")[0] for t in tokens] == [
                f"staging-{P}",
                f"prod-{P}",
            ]
        elif step == "ci.service-principals":  # then the SPs, each with its application id
            assert found[:2] == lines, found
            assert [x.split(" (in the account, application id ")[0] for x in found[2:]] == [
                f"delete SP prod-{P}",
                f"delete SP staging-{P}",
            ]
        else:
            assert found == lines, (step, found)
    assert "ok  secrets mlops-setup did not write stay: SLACK_WEBHOOK" in out["ci.secrets"]
    assert f"ok  schema prod.{P} (workspace prod) stays" in out["ci.permissions"]
    assert f"ok  GitHub repo {REPO} stays" in out["repo.create"]
    assert result.out.splitlines()[-1] == "setup.destroy: 0 added, 1 changed, 12 destroyed"
    undone = mutating(http())[made:]
    assert len(undone) == 13
    assert not [u for u in undone if u.startswith(("POST", "PUT /repos", "DELETE " + GH + " "))]
    assert f"DELETE {GH}/actions/secrets/SLACK_WEBHOOK" not in undone
    assert all(other["applicationId"] not in u for u in undone)
    assert journal(project).get("made") == [
        {"kind": "schema", "id": f"staging:staging.{P}", "env": "staging"},
        {"kind": "schema", "id": f"prod:prod.{P}", "env": "prod"},
        {"kind": "schema", "id": f"staging:test.{P}", "env": "staging"},
    ]  # what stays is still recorded: a later destroy says so again

    if fake_api is not None:  # composing: the fake's state itself
        assert state_of(world) == before
        assert databricks_uc.grants_on(world, "catalog", "staging") == {
            other["applicationId"]: ["SELECT", "USE_CATALOG"]
        }

    sent = len(mutating(http()))
    again = cli("setup.destroy", f"--yes-delete-repo={REPO}")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert again.out.splitlines()[-1] == "setup.destroy: no changes"
    assert len(mutating(http())) == sent  # a finished destroy sends no mutating request
    # a repo made by hand is never deleted, even when asked to
    assert (
        f"  !   GitHub repo {REPO} was not created by mlops-setup (the journal does not record "
        "it): not deleted"
    ) in again.out


# ----------------------------------------------------------------------------- linked SPs


@pytest.mark.vcr
def test_linked_sps_survive_with_the_grant_someone_else_gave_them(
    cli, project, world, http, fake_api
):
    """SPs made elsewhere (linked by application id) are never deleted nor unassigned; of
    their grants only what the setup added is revoked: USE_CATALOG, granted to the staging SP
    before the setup, stays although the setup would have granted it too."""
    seed_others(world)
    staging = databricks_iam.add_service_principal(
        world, "central-staging", assigned_to=("staging",)
    )
    prod = databricks_iam.add_service_principal(world, "central-prod", assigned_to=("prod",))
    databricks_uc.add_grant(world, "catalog", "staging", staging["applicationId"], "USE_CATALOG")
    project.write_config(
        databricks={
            "service_principals": {
                "staging": {"application_id": staging["applicationId"]},
                "prod": {"application_id": prod["applicationId"]},
            }
        }
    )
    fill_defaults(world)
    before = state_of(world)
    setup_all(cli, world)
    result = cli("setup.destroy")
    assert result.code == 0, result.err
    out = sections(result.out)
    assert change_lines(out["ci.permissions"]) == [
        f"revoke {GRANT} on catalog test from SP central-staging",
        f"revoke {GRANT} on catalog prod from SP central-prod",
        "revoke USE_SCHEMA, MODIFY, CREATE_MODEL, CREATE_TABLE on catalog staging from SP "
        "central-staging",
    ]
    assert change_lines(out["ci.service-principals"]) == []  # none made, none assigned
    for sp in (staging, prod):
        assert (
            f"ok  SP with application id {sp['applicationId']} is linked (made by someone else): "
            "not deleted"
        ) in out["ci.service-principals"]
    assert [line.split(" (")[0] for line in change_lines(out["ci.secrets"])][-2:] == [
        line.split(" (")[0] for line in _tokens_revoked(change_lines(out["ci.secrets"]))
    ]
    assert len(_tokens_revoked(change_lines(out["ci.secrets"]))) == 2  # minted by us: revoked
    undone = " ".join(mutating(http()))
    assert "ServicePrincipals" not in undone and "permissionassignments" not in undone
    if fake_api is not None:
        assert state_of(world) == before
        assert databricks_uc.grants_on(world, "catalog", "staging")[staging["applicationId"]] == [
            "USE_CATALOG"
        ]


# --------------------------------------------------------------------------- --delete-repo


def test_a_wrong_repo_name_does_nothing(cli, project, http, monkeypatch):
    """Typed back wrong, given wrong, or no answer at all: exit 2, not one request sent."""
    asked = []
    monkeypatch.setattr(teardown, "ask", lambda prompt: asked.append(prompt) or "acme/other")
    wrong = cli("setup.destroy", "--delete-repo")
    assert wrong.code == 2
    assert asked == [
        f"Deleting GitHub repo {REPO} deletes its branches, merged pull requests, the hand-over "
        "issue and the ML code. Type its full name to confirm: "
    ]
    assert wrong.err.splitlines()[0] == (
        f"error: the repo's name was not confirmed ('acme/other' is not '{REPO}'); nothing was done"
    )
    scripted = cli("setup.destroy", "--yes-delete-repo=acme/my-mlops-projec")
    assert scripted.code == 2
    assert "nothing was done" in scripted.err
    monkeypatch.setattr(teardown, "ask", lambda prompt: "")  # no terminal: no answer
    assert cli("setup.destroy", "--delete-repo").code == 2
    assert http() == []


@pytest.mark.vcr
def test_delete_repo_typed_back_deletes_the_repo_we_made(
    cli, project, world, http, fake_api, monkeypatch
):
    seed_others(world, repo=False)
    fill_defaults(world)
    before = state_of(world)
    setup_all(cli, world)
    dry = cli("setup.destroy", "--dry-run", "--delete-repo")  # a preview asks nothing
    assert dry.code == 0, dry.err
    monkeypatch.setattr(teardown, "ask", lambda prompt: REPO)
    result = cli("setup.destroy", "--delete-repo")
    assert result.code == 0, result.err
    assert change_lines(result.out) == change_lines(dry.out)
    assert change_lines(sections(result.out)["repo.create"]) == [
        f"delete GitHub repo {REPO} (with its branches, merged pull requests, the hand-over issue "
        "and the ML code)"
    ]
    assert mutating(http())[-1] == f"DELETE {GH}"
    assert result.out.splitlines()[-1] == "setup.destroy: 0 added, 1 changed, 13 destroyed"
    if fake_api is not None:
        assert REPO not in world.gh["repos"]
        assert state_of(world) == before
    sent = len(mutating(http()))
    again = cli("setup.destroy", f"--yes-delete-repo={REPO}")
    assert again.code == 0, again.err
    assert again.out.splitlines()[-1] == "setup.destroy: no changes"
    assert len(mutating(http())) == sent


# ------------------------------------------------------------------ lost answers, resuming


@pytest.mark.vcr
def test_deletes_whose_answer_was_lost_are_read_back(
    cli, project, world, http, monkeypatch, fake_api
):
    """A secret delete and an assignment removal carried out, their answers lost (502, 504):
    each is read back, found gone, counted as done; nothing is sent twice."""
    seed_others(world)
    setup_all(cli, world)
    before = len(mutating(http()))
    lose_answer(monkeypatch, "DELETE", f"/repos/{REPO}/actions/secrets/WORKFLOW_TOKEN", BAD_GATEWAY)
    result = cli("setup.destroy")
    assert result.code == 0, result.err
    assert (
        "deleting secret WORKFLOW_TOKEN: the answer was lost (502 (Bad Gateway)), but it was "
        "carried out"
    ) in result.out
    sent = mutating(http())[before:]
    assert len(sent) == len(set(sent)) == 13  # each delete once


@pytest.mark.vcr
def test_lost_assignment_removal_is_read_back(cli, project, world, http, monkeypatch, fake_api):
    seed_others(world)
    setup_all(cli, world)
    before = len(mutating(http()))
    ws = databricks_iam.state(world)["workspaces"]["prod"]["id"] if fake_api else 0
    lose_answer(
        monkeypatch,
        "DELETE",
        f"/api/2.0/accounts/x/workspaces/{ws}/permissionassignments/principals/1",
        gateway_timeout(),
    )
    result = cli("setup.destroy")
    assert result.code == 0, result.err
    assert (
        f"removing SP prod-{P} from workspace prod: the answer was lost (504 (DeadlineExceeded)), "
        "but it was carried out"
    ) in result.out
    sent = mutating(http())[before:]
    assert len(sent) == len(set(sent)) == 13


@pytest.mark.vcr
def test_a_destroy_that_stops_says_what_it_undid_and_a_rerun_resumes(cli, project, world, http):
    """Unity Catalog refuses the revoke (403): the run stops at ci.permissions, saying what it
    undid before; once the right is given, the re-run does only what is left."""
    seed_others(world)
    setup_all(cli, world)
    world.db["may_grant"] = False
    before = len(mutating(http()))
    stopped = cli("setup.destroy")
    assert stopped.code == 1
    assert stopped.err.splitlines()[-1] == (
        "setup.destroy: stopped at ci.permissions (step 3 of 5); 6 change(s) were undone before "
        "it; run `invoke setup.destroy` again once that is fixed: it resumes there"
    )
    assert "workspace staging refused revoking" in stopped.err
    first = mutating(http())[before:]
    assert len(first) == 7  # 6 undone, then the refused revoke
    world.db["may_grant"] = True  # the owner of the catalogs gives us MANAGE
    resumed = cli("setup.destroy")
    assert resumed.code == 0, resumed.err
    lines = change_lines(resumed.out)
    assert [line.split(" ")[0] for line in lines] == ["revoke"] * 3 + ["remove"] * 2 + [
        "delete"
    ] * 2
    assert "ok  workflow permissions of acme/my-mlops-project: nothing recorded to put back" in (
        resumed.out
    )
    again = len(mutating(http()))
    assert cli("setup.destroy").out.splitlines()[-1] == "setup.destroy: no changes"
    assert len(mutating(http())) == again


# --------------------------------------------------------------- the runbook's recording


@pytest.mark.vcr
def test_recorded_destroy(tmp_path, clean_env, world):
    """Composes (--compose) or replays the destroy runbook/teardown.md shows: the demo's setup
    of the example project, then `setup.destroy --dry-run` and `setup.destroy`."""
    from pathlib import Path

    from mlops_setup import demo

    world.gh["git_dir"] = str(tmp_path / "upstream.git")
    checks_pass(world)
    shown: list = []
    cassettes = Path(__file__).parent / "cassettes" / "test_teardown"
    with demo.demo_environment(tmp_path) as workdir:
        teardown.record_destroy(workdir, cassette_dir=cassettes, replay=False, transcript=shown)
    assert [(t.step, t.phase) for t in shown] == [
        ("setup.destroy", "plan"),
        ("setup.destroy", "apply"),
    ]
    plan, run = (t.text for t in shown)
    assert change_lines(unwrapped(plan)) == change_lines(unwrapped(run))  # plan = apply
    assert len(change_lines(unwrapped(run))) == 13
    assert run.splitlines()[-1] == "setup.destroy: 0 added, 1 changed, 12 destroyed"


def unwrapped(text: str) -> str:
    """Lines the console wrapped at the demo's width, joined again."""
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("      ") and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return "\n".join(lines)


@pytest.mark.vcr
def test_a_destroy_killed_after_a_revoke_resumes_without_repeating_it(
    cli, project, world, http, monkeypatch
):
    """The process dies right after Unity Catalog carried out the first revoke, before the
    journal forgot the grant: the re-run reads the grants, finds that one gone (forgets it
    without a request) and goes on with the rest. No request is sent twice."""
    seed_others(world)
    setup_all(cli, world)
    before = len(mutating(http()))
    real = teardown._deleted
    calls = []

    def killed(session, write, gone, what, **kwargs):
        real(session, write, gone, what, **kwargs)
        calls.append(what)
        if what.startswith("revoking USE_CATALOG"):
            raise KeyboardInterrupt  # the delete is done; its journal record is not forgotten

    monkeypatch.setattr(teardown, "_deleted", killed)
    crashed = cli("setup.destroy")
    assert crashed.code == 130
    assert crashed.err.splitlines()[-1] == (
        "interrupted during ci.permissions: 6 changes applied in ci.workflow-permissions, "
        f"ci.secrets (the last: ci.secrets: revoked token {_token(crashed.out, 'prod')} of SP "
        f"prod-{P} (workspace prod, minted by mlops-setup)); run the same command again: it "
        "resumes there"
    )
    first = mutating(http())[before:]
    assert len(first) == 7 and first[-1].startswith(f"PATCH {STAGING}/api/2.1/unity-catalog/")
    assert any(r["kind"] == "grant" and ":test:" in r["id"] for r in journal(project)["made"])
    monkeypatch.setattr(teardown, "_deleted", real)
    resumed = cli("setup.destroy")
    assert resumed.code == 0, resumed.err
    assert change_lines(sections(resumed.out)["ci.permissions"]) == [
        f"revoke {GRANT} on catalog prod from SP prod-{P}",
        f"revoke {GRANT} on catalog staging from SP staging-{P}",
    ]
    second = mutating(http())[before + len(first) :]
    assert len(second) == 6 and not set(first) & set(second)  # nothing sent twice
    assert not [r for r in journal(project)["made"] if r["kind"] == "grant"]


def _token(output: str, env: str) -> str:
    """The short id of the token of ``env``'s SP that ``output`` revoked."""
    line = next(x for x in output.splitlines() if "revoked token" in x and f"SP {env}-" in x)
    return line.split("revoked token ")[1].split()[0]


# ---------------------------------------------------------------------------------- Azure

AZURE_SECRETS = [
    f"{env}_AZURE_SP_{kind}"
    for env in ("STAGING", "PROD")
    for kind in ("CLIENT_SECRET", "TENANT_ID", "APPLICATION_ID")
]


def azure_project(project, world) -> None:
    """The example project rendered for Azure, and the fakes at its hosts."""
    from tests.fakeapi import graph_apps

    project.regenerate(cloud="azure")
    graph_apps.azure_workspaces(world)


def seed_other_app(world: World) -> dict:
    """Someone else's Entra app (untagged), with a client secret of theirs, present before."""
    from tests.fakeapi import graph_apps

    app = graph_apps.add_app(world, OTHER_SP, ours=False)
    graph_apps.add_secret(world, app, "analytics nightly", end="2027-01-01T00:00:00Z")
    return app


def azure_state_of(world: World) -> dict:
    """:func:`state_of` and the fake tenant (apps, their SPs and secrets), less the fake's id
    counter (Entra never reuses an object id either)."""
    from tests.fakeapi import graph_apps

    graph_apps.state(world)
    graph = {k: v for k, v in world.graph.items() if k not in ("serial", "lagging")}
    tenant = json.loads(json.dumps(_pruned(copy.deepcopy(graph)), default=str))
    return {**state_of(world), "graph": tenant}


AZURE_DESTROYED_SECRETS = [
    "delete secret WORKFLOW_TOKEN (written by mlops-setup)",
    *(f"delete secret {name} (written by mlops-setup)" for name in reversed(AZURE_SECRETS)),
]


@pytest.mark.vcr
def test_azure_setup_then_destroy_removes_entra_apps_and_client_secrets_we_made(
    cli, project, world, http, fake_api
):
    """databricks.cloud: azure. The whole guide, then a destroy: the six *_AZURE_SP_* secrets
    and WORKFLOW_TOKEN, our client secrets, the grants, assignments and SPs, then the Entra
    apps we created (with their tenant SPs) are gone; someone else's app and its secret stay;
    plan = apply, and a second destroy sends nothing."""
    azure_project(project, world)
    other = seed_others(world)
    foreign = seed_other_app(world)
    fill_defaults(world)
    before = azure_state_of(world)
    setup_all(cli, world)
    recorded = journal(project)["made"]
    apps = [r for r in recorded if r["kind"] == "entra_app"]
    assert [r["display_name"] for r in apps] == [f"staging-{P}", f"prod-{P}"]
    assert [r["kind"] for r in recorded if r["kind"].startswith("entra_")].count("entra_sp") == 2
    assert "secretText" not in json.dumps(recorded) and "Fk~" not in json.dumps(recorded)
    made = len(mutating(http()))

    dry = cli("setup.destroy", "--dry-run")
    assert dry.code == 0, dry.err
    assert len(mutating(http())) == made  # a preview changes nothing
    result = cli("setup.destroy")
    assert result.code == 0, result.err
    assert change_lines(result.out) == change_lines(dry.out)  # plan = apply
    out = sections(result.out)
    assert list(out) == list(DESTROYED)
    secrets = change_lines(out["ci.secrets"])
    assert secrets[: len(AZURE_DESTROYED_SECRETS)] == AZURE_DESTROYED_SECRETS
    removed = secrets[len(AZURE_DESTROYED_SECRETS) :]
    assert [x.split(" of Entra app ")[1] for x in removed] == [
        f"staging-{P} (added by mlops-setup)",
        f"prod-{P} (added by mlops-setup)",
    ], removed
    assert all(x.startswith("remove client secret ") for x in removed)
    assert change_lines(out["ci.permissions"]) == DESTROYED["ci.permissions"]
    sps = change_lines(out["ci.service-principals"])
    assert sps[:2] == DESTROYED["ci.service-principals"]
    assert [x.split(" (")[0] for x in sps[2:]] == [
        f"delete SP prod-{P}",
        f"delete SP staging-{P}",
        f"delete Entra app prod-{P}",
        f"delete Entra app staging-{P}",
    ]
    for record, line in zip(reversed(apps), sps[4:], strict=True):
        assert line.endswith(
            f"(client id {record['app_id']}, with its Entra SP; restorable for 30 days "
            "(Entra ID > App registrations > Deleted applications))"
        )
    total = 1 + len(secrets) + 3 + len(sps)
    assert total == 1 + 9 + 3 + 6
    assert (
        result.out.splitlines()[-1] == f"setup.destroy: 0 added, 1 changed, {total - 1} destroyed"
    )
    undone = mutating(http())[made:]
    assert len(undone) == total
    graph = [u for u in undone if "graph.microsoft.com" in u]
    assert [u.split(" ")[0] for u in graph] == ["POST", "POST", "DELETE", "DELETE"]
    assert all(foreign["id"] not in u and other["applicationId"] not in u for u in undone)
    assert not [r for r in journal(project)["made"] if r["kind"].startswith("entra_")]
    if fake_api is not None:
        assert azure_state_of(world) == before  # the other app and its secret included
        assert world.graph["apps"][0]["passwordCredentials"][0]["displayName"] == (
            "analytics nightly"
        )

    sent = len(mutating(http()))
    again = cli("setup.destroy")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert again.out.splitlines()[-1] == "setup.destroy: no changes"
    assert len(mutating(http())) == sent  # a finished destroy sends no mutating request


@pytest.mark.vcr
@pytest.mark.parametrize("mode", ["oidc", "oauth"])
def test_azure_in_other_auth_modes_the_entra_apps_go_too(cli, project, world, http, fake_api, mode):
    """Azure with ci.auth_mode oidc or oauth: no Entra client secret is made (the credentials
    are on the Databricks SPs, removed as on AWS); the Entra apps we created are deleted all
    the same, and the fake's state is as before."""
    azure_project(project, world)
    seed_others(world)
    project.write_config(ci={"auth_mode": mode})
    fill_defaults(world)
    before = azure_state_of(world)
    setup_all(cli, world)
    result = cli("setup.destroy")
    assert result.code == 0, result.err
    out = sections(result.out)
    assert not [x for x in change_lines(out["ci.secrets"]) if "client secret" in x]
    assert [x.split(" (")[0] for x in change_lines(out["ci.service-principals"])][-2:] == [
        f"delete Entra app prod-{P}",
        f"delete Entra app staging-{P}",
    ]
    if fake_api is not None:
        assert azure_state_of(world) == before
    sent = len(mutating(http()))
    again = cli("setup.destroy")
    assert again.out.splitlines()[-1] == "setup.destroy: no changes"
    assert len(mutating(http())) == sent


@pytest.mark.vcr
def test_azure_app_delete_refused_by_entra_names_the_right_and_the_destroy_page(
    cli, project, world
):
    """Entra ID refuses to delete our app (403): the error says which right is missing and
    points at the destroy's page, not the setup's; what was undone before it stays undone."""
    from tests.fakeapi import graph_error

    azure_project(project, world)
    seed_others(world)
    setup_all(cli, world)
    world.queue(
        "DELETE",
        r"/v1\.0/applications/[^/]+",
        graph_error(403, "Authorization_RequestDenied", "Insufficient privileges."),
    )
    result = cli("setup.destroy")
    assert result.code == 1, result.out
    err = result.err.splitlines()
    assert err[0] == (
        f"error: Microsoft Entra ID refused deleting Entra app prod-{P} (403 "
        "Authorization_RequestDenied)"
    )
    assert err[1].startswith(
        f"  fix: be an owner of the app prod-{P} (Entra ID > App registrations"
    )
    assert err[2:] == [
        "  see: runbook/teardown.md",
        "setup.destroy: stopped at ci.service-principals (step 4 of 5); 17 change(s) were undone "
        "before it; run `invoke setup.destroy` again once that is fixed: it resumes there",
    ]


@pytest.mark.vcr
def test_azure_app_delete_whose_answer_was_lost_is_read_back(
    cli, project, world, http, monkeypatch, fake_api
):
    """The Entra app's delete is carried out, its answer lost (504): read back by client id,
    found gone, counted as done; no delete is sent twice, and the journal forgets the app."""
    from tests.fakeapi import graph_error

    azure_project(project, world)
    seed_others(world)
    setup_all(cli, world)
    before = len(mutating(http()))
    lose_answer(
        monkeypatch,
        "DELETE",
        "/v1.0/applications/0",
        graph_error(504, "GatewayTimeout", "The gateway did not receive a response in time."),
    )
    result = cli("setup.destroy")
    assert result.code == 0, result.err
    assert (
        f"deleting Entra app prod-{P}: the answer was lost (504 (Gateway Timeout)), but it was "
        "carried out"
    ) in result.out
    sent = mutating(http())[before:]
    assert len(sent) == len(set(sent)) == 1 + 9 + 3 + 6  # each delete once
    assert not [r for r in journal(project)["made"] if r["kind"].startswith("entra_")]
    again = cli("setup.destroy")
    assert again.out.splitlines()[-1] == "setup.destroy: no changes"


@pytest.mark.vcr
def test_azure_linked_entra_apps_survive_without_our_client_secrets(
    cli, project, world, http, fake_api
):
    """Entra apps made elsewhere, linked by client id: the destroy removes only the client
    secrets mlops-setup added to them (by display name); the apps, their tenant SPs, the
    Databricks SPs and a client secret their owner added stay."""
    from tests.fakeapi import graph_apps

    azure_project(project, world)
    seed_others(world)
    linked = {}
    for env in ("staging", "prod"):
        app = graph_apps.add_app(world, f"central-{env}", ours=False)
        graph_apps.add_secret(world, app, "owner's secret", end="2027-01-01T00:00:00Z")
        sp = databricks_iam.add_service_principal(world, f"central-{env}", assigned_to=(env,))
        sp["applicationId"] = app["appId"]
        linked[env] = app
    project.write_config(
        databricks={
            "service_principals": {
                env: {"application_id": app["appId"]} for env, app in linked.items()
            }
        }
    )
    fill_defaults(world)
    before = azure_state_of(world)
    setup_all(cli, world)
    assert not [r for r in journal(project)["made"] if r["kind"].startswith("entra_")]
    result = cli("setup.destroy")
    assert result.code == 0, result.err
    out = sections(result.out)
    removed = [x for x in change_lines(out["ci.secrets"]) if "client secret" in x]
    assert [x.split(" of Entra app ")[1] for x in removed] == [
        "central-staging (added by mlops-setup)",
        "central-prod (added by mlops-setup)",
    ]
    assert change_lines(out["ci.service-principals"]) == []  # none made, none assigned
    for app in linked.values():
        assert (
            f"ok  SP with application id {app['appId']} is linked (made by someone else): "
            "not deleted"
        ) in out["ci.service-principals"]
    undone = " ".join(mutating(http()))
    assert "DELETE https://graph.microsoft.com" not in undone
    if fake_api is not None:
        assert azure_state_of(world) == before
        for app in linked.values():
            assert [c["displayName"] for c in app["passwordCredentials"]] == ["owner's secret"]
    sent = len(mutating(http()))
    again = cli("setup.destroy")
    assert again.out.splitlines()[-1] == "setup.destroy: no changes"
    assert len(mutating(http())) == sent


# ------------------------------------------------------------- OIDC federation, OAuth secrets


@pytest.mark.vcr
@pytest.mark.parametrize("mode", ["oidc", "oauth"])
def test_oidc_and_oauth_credentials_we_made_are_removed(cli, project, world, http, fake_api, mode):
    """ci.secrets in the other auth modes, on SPs made elsewhere, then a destroy: the
    federation policies, GitHub environments and variables (oidc) or the OAuth secrets (oauth),
    and the GitHub secrets, are removed; the SPs and the secret set by hand stay."""
    seed_others(world)
    sps = {
        env: databricks_iam.add_service_principal(world, f"{env}-{P}", assigned_to=(env,))
        for env in ("staging", "prod")
    }
    project.write_config(ci={"auth_mode": mode})
    fill_defaults(world)
    before = state_of(world)
    made = cli("ci.secrets")
    assert made.code == 0, made.err
    sent = len(mutating(http()))
    result = cli("setup.destroy")
    assert result.code == 0, result.err
    lines = change_lines(sections(result.out)["ci.secrets"])
    assert lines and all(line.startswith("delete ") for line in lines), lines
    if mode == "oidc":
        assert [line.split(" (")[0] for line in lines] == [
            "delete secret WORKFLOW_TOKEN",
            "delete variable PROD_DATABRICKS_CLIENT_ID",
            "delete variable STAGING_DATABRICKS_CLIENT_ID",
            "delete GitHub environment prod",
            "delete GitHub environment staging",
            f"delete federation policy github-actions-staging of SP staging-{P}",
            f"delete federation policy github-actions-prod of SP prod-{P}",
        ]
    else:
        assert [x for x in lines if x.startswith("delete OAuth secret ")] == [x for x in lines[-2:]]
        assert len([x for x in lines if x.startswith("delete secret ")]) == 5
    assert result.out.splitlines()[-1] == (
        f"setup.destroy: 0 added, 0 changed, {len(lines)} destroyed"
    )
    assert len(mutating(http())) == sent + len(lines)
    if fake_api is not None:
        assert state_of(world) == before
        assert [sp["displayName"] for sp in world.db["service_principals"]][-2:] == [
            sps["staging"]["displayName"],
            sps["prod"]["displayName"],
        ]
    again = cli("setup.destroy")
    assert again.out.splitlines()[-1] == "setup.destroy: no changes"
    assert len(mutating(http())) == sent + len(lines)


# ------------------------------------------------------------- the repo's name in other case


@pytest.mark.vcr
def test_our_secrets_are_found_when_the_config_spells_the_repo_in_other_case(
    cli, project, world, http, fake_api
):
    """GitHub matches a repo's name case-insensitively and journals answer with its own
    spelling (``repo.full_name``): the secrets ci.secrets wrote and the workflow permissions it
    changed are recorded under ``acme/my-mlops-project`` while the config says
    ``acme/My-MLOps-Project``. The destroy must still find them (it looked them up under the
    config's spelling: kept WORKFLOW_TOKEN as a secret "mlops-setup did not write" and said
    "nothing recorded to put back")."""
    seed_others(world)  # the repo, made by hand as acme/my-mlops-project
    for env in ("staging", "prod"):
        databricks_iam.add_service_principal(world, f"{env}-{P}", assigned_to=(env,))
    project.write_config(github={"repo": "My-MLOps-Project"})
    fill_defaults(world)
    before = state_of(world)
    for step in ("ci.workflow-permissions", "ci.secrets"):
        made = cli(step)
        assert made.code == 0, made.err
    result = cli("setup.destroy")
    assert result.code == 0, result.err
    assert change_lines(sections(result.out)["ci.workflow-permissions"]) == [
        f"restore workflow permissions of {REPO} (read and write -> read; Actions may no "
        "longer create and approve PRs)"
    ], result.out
    lines = change_lines(sections(result.out)["ci.secrets"])
    assert [line for line in lines if line.startswith("delete secret ")] == [
        "delete secret WORKFLOW_TOKEN (written by mlops-setup)",
        "delete secret PROD_WORKSPACE_TOKEN (written by mlops-setup)",
        "delete secret STAGING_WORKSPACE_TOKEN (written by mlops-setup)",
    ], result.out
    if fake_api is not None:
        assert state_of(world) == before


# ------------------------------------------------------------ a journal edited by hand


@pytest.mark.vcr
def test_made_records_naming_another_principal_are_not_undone(cli, project, world, fake_api, http):
    """Records added to the journal by hand (or copied from another project's journal) that
    name someone else's SP and its grant: the destroy must leave both (they are not this
    project's SPs: not the configured names, not linked)."""
    other = seed_others(world)
    setup_all(cli, world)
    path = project.root / ".mlops-setup" / "journal.json"
    data = json.loads(path.read_text())
    app = other["applicationId"]
    data["made"] += [
        {
            "kind": "grant",
            "id": f"staging:catalog:staging:{app}",
            "env": "staging",
            "securable_type": "catalog",
            "full_name": "staging",
            "principal": app,
            "privileges": ["SELECT"],
            "display_name": OTHER_SP,
        },
        {
            "kind": "service_principal",
            "id": f"account:{other['id']}",
            "env": "staging",
            "scope": "account",
            "sp_id": other["id"],
            "application_id": app,
            "display_name": OTHER_SP,
        },
    ]
    path.write_text(json.dumps(data))
    result = cli("setup.destroy")
    assert result.code == 0, result.err
    assert OTHER_SP not in " ".join(change_lines(result.out))
    assert f"grant on catalog staging to {OTHER_SP}, which is not one of" in result.out
    assert f"SP {OTHER_SP} as made by the setup, but this project's SPs" in result.out
    assert not [m for m in mutating(http()) if m.startswith("DELETE") and other["id"] in m]


@pytest.mark.vcr
def test_a_made_record_missing_its_fields_is_explained(cli, project, world):
    """A journal edited by hand: a grant record without its fields stops the destroy with one
    message naming the journal and the record, not a KeyError traceback."""
    seed_others(world)
    path = project.root / ".mlops-setup" / "journal.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"made": [{"kind": "grant", "id": "staging:catalog:staging:x"}]}))
    result = cli("setup.destroy", "--dry-run")
    assert result.code == 1
    assert "journal.json: the record of 'grant' 'staging:catalog:staging:x' has no" in result.err
    assert "Traceback" not in result.err + result.out


@pytest.mark.vcr
def test_a_destroy_with_an_empty_journal_says_where_to_run_it(cli, project, world, http):
    """Run where the setup never ran (another clone, a lost state folder): the journal knows
    nothing, so the destroy says so, and where to run it, and undoes nothing of anyone's."""
    seed_others(world)
    result = cli("setup.destroy")
    assert result.code == 0, result.err
    assert "records nothing this tool made" in result.out
    assert "in the folder where the setup ran" in result.out
    assert not mutating(http())
