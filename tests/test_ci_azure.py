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
