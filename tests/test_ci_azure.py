"""Azure (the template's default cloud): Entra ID applications behind the service principals,
their client secrets as the six ``*_AZURE_SP_*`` secrets (ci.service-principals, ci.secrets)."""

from __future__ import annotations

import pytest

from tests.conftest import change_lines, exchanges_of, mutating
from tests.fakeapi import Reply, graph_apps, graph_error

ACCOUNT_ID = "0d2c1e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
ACCOUNT = f"https://accounts.azuredatabricks.net/api/2.0/accounts/{ACCOUNT_ID}"
GRAPH = "https://graph.microsoft.com/v1.0"
STAGING_SP, PROD_SP = "staging-my-mlops-project", "prod-my-mlops-project"


@pytest.fixture
def azure(project, world):
    """The example project rendered for Azure, and the fakes at its hosts."""
    project.regenerate(cloud="azure")
    graph_apps.azure_workspaces(world)
    return project


def bodies(vcr, fake_api, method: str, prefix: str) -> list[dict]:
    return [
        e.body
        for e in exchanges_of(fake_api if fake_api is not None else vcr)
        if e.method == method and e.uri.startswith(prefix) and e.body
    ]


@pytest.mark.vcr
def test_fresh_tenant_gets_an_app_per_environment_and_entra_managed_sps(
    cli, azure, world, http, vcr, fake_api
):
    result = cli("ci.service-principals")
    assert result.code == 0, result.err
    assert change_lines(result.out) == [
        f"create Entra app {STAGING_SP} (tagged)",
        f"create Entra SP of app {STAGING_SP}",
        f"create SP {STAGING_SP} (in the account)",
        f"assign SP {STAGING_SP} to workspace staging (USER)",
        f"create Entra app {PROD_SP} (tagged)",
        f"create Entra SP of app {PROD_SP}",
        f"create SP {PROD_SP} (in the account)",
        f"assign SP {PROD_SP} to workspace prod (USER)",
    ]
    apps = {a["displayName"]: a for a in world.graph["apps"]} if fake_api else None
    created = bodies(vcr, fake_api, "POST", f"{ACCOUNT}/scim/v2/ServicePrincipals")
    assert [b["displayName"] for b in created] == [STAGING_SP, PROD_SP]
    client_ids = [b["applicationId"] for b in created]
    assert all(len(c) == 36 for c in client_ids)
    if apps is not None:
        assert client_ids == [apps[STAGING_SP]["appId"], apps[PROD_SP]["appId"]]
    assert bodies(vcr, fake_api, "POST", f"{GRAPH}/applications")[0] == {
        "displayName": STAGING_SP,
        "description": "CI/CD of acme/my-mlops-project (staging), made by mlops-setup",
        "signInAudience": "AzureADMyOrg",
        "tags": ["mlops-setup"],
    }
    assert bodies(vcr, fake_api, "POST", f"{GRAPH}/servicePrincipals") == [
        {"appId": c, "tags": ["mlops-setup"]} for c in client_ids
    ]
    sent = len(mutating(http()))
    again = cli("ci.service-principals")
    assert again.code == 0, again.err
    assert "ci.service-principals: no changes" in again.out
    assert f"ok  Entra app {PROD_SP} exists (client id {client_ids[1]})" in again.out
    assert len(mutating(http())) == sent


@pytest.mark.vcr
def test_app_created_but_the_answer_lost_is_found_by_name_and_tag(cli, azure, world, http):
    world.graph["lose_answers"] = 1  # staging's app is made, the answer is a 504
    result = cli("ci.service-principals")
    assert result.code == 0, result.err
    assert (
        f"Entra app {STAGING_SP}: the create failed (504 GatewayTimeout: The gateway did not "
        "receive a response.), but the app was made" in result.out
    )
    apps = [m for m in mutating(http()) if m.endswith("/v1.0/applications")]
    assert len(apps) == 2  # one per environment: never a second create for staging


@pytest.mark.vcr
def test_graph_429_is_waited_for_as_retry_after_says(cli, azure, world, no_sleep):
    world.queue(
        "GET",
        r"/v1\.0/applications",
        graph_error(429, "TooManyRequests", "Too many requests."),
    )
    world.queue("GET", r"/v1\.0/applications", Reply(429, None, headers={"Retry-After": "7"}))
    result = cli("ci.service-principals", "--dry-run")
    assert result.code == 0, result.err
    assert no_sleep.calls[:2] == [1.0, 7.0]


@pytest.mark.vcr
def test_new_app_unknown_to_the_tenant_for_a_while_is_waited_for(cli, azure, world, no_sleep):
    world.graph["sp_lag"] = 2
    result = cli("ci.service-principals")
    assert result.code == 0, result.err
    assert no_sleep.calls[:2] == [1, 2]


@pytest.mark.vcr
def test_app_of_that_name_made_by_someone_else_is_left_alone(cli, azure, world, http):
    foreign = graph_apps.add_app(world, STAGING_SP, ours=False)
    result = cli("ci.service-principals")
    assert result.code == 1
    assert (
        f"error: an Entra ID application named {STAGING_SP} exists but was not made by "
        "mlops-setup (no mlops-setup tag): it is left alone"
    ) in result.err
    assert f"{{application_id: {foreign['appId']}}}" in result.err
    assert mutating(http()) == []


@pytest.mark.vcr
def test_linked_entra_apps_create_nothing(cli, azure, world, http):
    from tests.fakeapi import databricks_iam

    staging = graph_apps.add_app(world, "central-staging", ours=False)
    prod = graph_apps.add_app(world, "central-prod", ours=False)
    for app, env in ((staging, "staging"), (prod, "prod")):
        sp = databricks_iam.add_service_principal(world, app["displayName"], assigned_to=(env,))
        sp["applicationId"] = app["appId"]
    azure.write_config(
        databricks={
            "service_principals": {
                "staging": {"application_id": staging["appId"]},
                "prod": {"application_id": prod["appId"]},
            }
        }
    )
    result = cli("ci.service-principals")
    assert result.code == 0, result.err
    assert change_lines(result.out) == []
    assert f"ok  Entra app central-prod is linked (client id {prod['appId']})" in result.out
    assert mutating(http()) == []


# ------------------------------------------------------------------------------ ci.secrets

REPO = "acme/my-mlops-project"
GH = f"https://api.github.com/repos/{REPO}/actions/secrets"
SIX = [
    f"{env}_AZURE_SP_{k}"
    for env in ("STAGING", "PROD")
    for k in ("TENANT_ID", "APPLICATION_ID", "CLIENT_SECRET")
]


def seed_azure(world) -> dict:
    """A repo; per environment a tagged app, its tenant SP and the Databricks SP with its id."""
    from tests.fakeapi import databricks_iam, github_repos

    github_repos.add_repo(world, REPO)
    apps = {}
    for env, name in (("staging", STAGING_SP), ("prod", PROD_SP)):
        apps[env] = app = graph_apps.add_app(world, name)
        sp = databricks_iam.add_service_principal(world, name, assigned_to=(env,))
        sp["applicationId"] = app["appId"]
    return apps


def journal(project) -> dict:
    import json

    return json.loads((project.root / ".mlops-setup/journal.json").read_text())["ci.secrets"]


def ours(world, env: str) -> list[dict]:
    app = next(a for a in world.graph["apps"] if a["displayName"].startswith(env))
    return [c for c in app["passwordCredentials"] if "mlops-setup" in c["displayName"]]


@pytest.mark.vcr
def test_fresh_repo_gets_the_six_secrets_and_a_rerun_changes_nothing(
    cli, azure, world, http, vcr, fake_api
):
    seed_azure(world)
    result = cli("ci.secrets")
    assert result.code == 0, result.err
    assert change_lines(result.out) == [
        f"add client secret to app {STAGING_SP} (lifetime 90 days)",
        "set secret STAGING_AZURE_SP_CLIENT_SECRET",
        "set secret STAGING_AZURE_SP_TENANT_ID",
        "set secret STAGING_AZURE_SP_APPLICATION_ID",
        f"add client secret to app {PROD_SP} (lifetime 90 days)",
        "set secret PROD_AZURE_SP_CLIENT_SECRET",
        "set secret PROD_AZURE_SP_TENANT_ID",
        "set secret PROD_AZURE_SP_APPLICATION_ID",
        "set secret WORKFLOW_TOKEN (from $WORKFLOW_TOKEN)",
    ]
    puts = sorted(u.rsplit("/", 1)[1] for u in mutating(http()) if u.startswith(f"PUT {GH}"))
    assert puts == sorted([*SIX, "WORKFLOW_TOKEN"])
    added = bodies(vcr, fake_api, "POST", f"{GRAPH}/applications/")
    assert added == [
        {
            "passwordCredential": {
                "displayName": f"mlops-setup CI secret for {REPO} ({env})",
                "endDateTime": "2026-05-31T09:00:00Z",
            }
        }
        for env in ("staging", "prod")
    ]
    assert journal(azure)["in_flight"] == {}
    assert "secretText" not in (azure.root / ".mlops-setup/journal.json").read_text()
    sent = len(mutating(http()))
    again = cli("ci.secrets")
    assert again.code == 0, again.err
    assert "ci.secrets: no changes" in again.out
    assert "ok  secret PROD_AZURE_SP_CLIENT_SECRET holds client secret" in again.out
    assert len(mutating(http())) == sent


@pytest.mark.vcr
def test_rotate_writes_the_new_secret_before_removing_the_old(cli, azure, world, http, fake_api):
    seed_azure(world)
    assert cli("ci.secrets").code == 0
    before = len(mutating(http()))
    rotated = cli("ci.secrets", "--rotate")
    assert rotated.code == 0, rotated.err
    made = mutating(http())[before:]
    add = made.index(next(m for m in made if m.endswith("/addPassword")))
    write = made.index(f"PUT {GH}/STAGING_AZURE_SP_CLIENT_SECRET")
    remove = made.index(next(m for m in made if m.endswith("/removePassword")))
    assert add < write < remove  # CI never holds a removed secret
    assert len([m for m in made if m.endswith("/removePassword")]) == 2
    if fake_api is not None:  # the fake's state: at most one secret of ours per app
        assert [len(ours(world, env)) for env in ("staging", "prod")] == [1, 1]


@pytest.mark.vcr
def test_add_password_refused_names_the_entra_role(cli, azure, world, http):
    seed_azure(world)
    world.graph["can_add_password"] = False
    result = cli("ci.secrets")
    assert result.code == 1
    assert result.err.splitlines()[:2] == [
        f"error: Microsoft Entra ID refused adding a client secret to Entra app {STAGING_SP} "
        "(403 Authorization_RequestDenied)",
        f"  fix: be an owner of the app {STAGING_SP} (Entra ID > App registrations > Owners), or "
        "hold the Entra ID role Application Administrator or Cloud Application Administrator",
    ]
    assert [m for m in mutating(http()) if "api.github.com" in m] == []


@pytest.mark.vcr
def test_failed_secret_write_removes_the_new_client_secret_at_once(
    cli, azure, world, http, fake_api
):
    from tests.fakeapi import github_error

    seed_azure(world)
    world.queue(
        "PUT",
        f"/repos/{REPO}/actions/secrets/STAGING_AZURE_SP_CLIENT_SECRET",
        github_error(403, "Resource not accessible by personal access token"),
    )
    result = cli("ci.secrets")
    assert result.code == 1
    made = mutating(http())
    assert made[-1].endswith("/removePassword")
    assert "was removed, nothing is left behind" in result.err
    assert journal(azure)["in_flight"] == {}
    if fake_api is not None:  # the fake's state: at most one secret of ours per app
        assert ours(world, "staging") == []


@pytest.mark.vcr
def test_crash_between_add_and_write_is_cleaned_up_next_run(cli, azure, world, http, monkeypatch):
    import github.Repository

    seed_azure(world)
    real = github.Repository.Repository.create_secret

    def crash(self, name, value, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(github.Repository.Repository, "create_secret", crash)
    assert cli("ci.secrets").code == 130
    (left,) = journal(azure)["in_flight"]
    monkeypatch.setattr(github.Repository.Repository, "create_secret", real)
    again = cli("ci.secrets")
    assert again.code == 0, again.err
    assert f"remove client secret {left[:8]} of app {STAGING_SP} (left by an interrupted run)" in (
        change_lines(again.out)
    )
    assert journal(azure)["in_flight"] == {}


@pytest.mark.vcr
def test_a_client_secret_removed_in_entra_is_drift_and_replaced(cli, azure, world, http):
    """Someone removed our client secret from the staging app in Entra ID: the GitHub secret
    still holds it, so CI would fail to sign in. setup.status says drifted (not missing), and
    ci.secrets warns, adds a new client secret and writes it."""
    seed_azure(world)
    assert cli("ci.secrets").code == 0
    app = next(a for a in world.graph["apps"] if a["displayName"] == STAGING_SP)
    app["passwordCredentials"] = [
        c for c in app["passwordCredentials"] if "mlops-setup" not in c["displayName"]
    ]
    status = cli("setup.status")
    row = next(line for line in status.out.splitlines() if line.startswith("ci.secrets "))
    assert row.split()[1] == "drifted", status.out
    result = cli("ci.secrets")
    assert result.code == 0, result.err
    assert (
        "!   secret STAGING_AZURE_SP_CLIENT_SECRET has drifted: it holds client secret "
        "135e29f0, revoked or expired; replacing it"
    ) in result.out
    assert change_lines(result.out)[:2] == [
        f"add client secret to app {STAGING_SP} (lifetime 90 days)",
        "set secret STAGING_AZURE_SP_CLIENT_SECRET",
    ]
