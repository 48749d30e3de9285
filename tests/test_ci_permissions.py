"""ci.permissions: catalogs, schemas and additive Unity Catalog grants for the SPs."""

from __future__ import annotations

import json

import pytest

from tests.conftest import change_lines, exchanges_of, mutating
from tests.fakeapi import databricks_iam, databricks_uc
from tests.fakeapi.databricks_iam import application_id

ACCOUNT_ID = "0d2c1e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
ACCOUNT = "https://accounts.cloud.databricks.com"
STAGING = "https://staging.cloud.databricks.com"
PROD = "https://prod.cloud.databricks.com"
UC = "/api/2.1/unity-catalog"
STAGING_SP, PROD_SP = "staging-my-mlops-project", "prod-my-mlops-project"
STAGING_APP, PROD_APP = application_id(STAGING_SP), application_id(PROD_SP)
SCHEMA = "my-mlops-project"
ALL_FIVE = "USE_CATALOG, USE_SCHEMA, MODIFY, CREATE_MODEL, CREATE_TABLE"
ALL_FIVE_LIST = ["USE_CATALOG", "USE_SCHEMA", "MODIFY", "CREATE_MODEL", "CREATE_TABLE"]


def warnings(output: str) -> list[str]:
    return [line.strip()[1:].strip() for line in output.splitlines() if line.strip()[:1] == "!"]


def exchanges(vcr, fake_api, method: str) -> list[tuple[str, dict, dict]]:
    """(uri, request JSON, response JSON) of each ``method`` request sent, in either mode."""
    return [
        (e.uri, e.body, e.answer)
        for e in exchanges_of(fake_api if fake_api is not None else vcr)
        if e.method == method
    ]


@pytest.fixture(autouse=True)
def input_table_set(request, project):
    """Most tests here model a project whose batch job reads a real table (the operator did
    the template's TODO); those marked ``template_input`` keep the generated bare name."""
    if "template_input" not in request.keywords:
        project.qualify_input_table()


def with_sps(world) -> None:
    """The account as ci.service-principals leaves it."""
    databricks_iam.add_service_principal(world, STAGING_SP, assigned_to=("staging",))
    databricks_iam.add_service_principal(world, PROD_SP, assigned_to=("prod",))


def finished(world) -> None:
    """Everything ci.permissions would do is done."""
    with_sps(world)
    for catalog, app in (("staging", STAGING_APP), ("prod", PROD_APP), ("test", STAGING_APP)):
        for table in ("feature_store_inference_input", "predictions"):
            databricks_uc.add_table(world, f"{catalog}.{SCHEMA}.{table}")
        databricks_uc.add_grant(world, "catalog", catalog, app, *ALL_FIVE_LIST)
        base = f"{catalog}.{SCHEMA}"
        databricks_uc.add_grant(
            world, "table", f"{base}.feature_store_inference_input", app, "SELECT"
        )
        databricks_uc.add_grant(world, "table", f"{base}.predictions", app, "MODIFY")


FRESH_CHANGES = [
    f"create schema staging.{SCHEMA} (workspace staging)",
    f"create schema prod.{SCHEMA} (workspace prod)",
    f"create schema test.{SCHEMA} (workspace staging)",
    f"grant {ALL_FIVE} on catalog staging to SP {STAGING_SP}",
    f"grant {ALL_FIVE} on catalog prod to SP {PROD_SP}",
    f"grant {ALL_FIVE} on catalog test to SP {STAGING_SP}",
]


def missing_tables(*catalogs: str) -> list[str]:
    out = []
    for catalog in catalogs:
        out += [
            f"SELECT on {catalog}.{SCHEMA}.feature_store_inference_input",
            f"MODIFY on {catalog}.{SCHEMA}.predictions",
        ]
    return out


def table_warnings(*catalogs: str) -> list[str]:
    """The one warning naming every batch table that does not exist (none: no warning)."""
    return table_warning(missing_tables(*catalogs))


def table_warning(missing: list[str]) -> list[str]:
    return ["batch tables do not exist yet, not granted: " + ", ".join(missing)] if missing else []


@pytest.mark.vcr
def test_fresh_setup_creates_schemas_and_grants(cli, world, http, vcr, fake_api):
    with_sps(world)
    result = cli("ci.permissions")
    assert result.code == 0, result.err
    assert change_lines(result.out) == FRESH_CHANGES
    assert f"ok  SPs {STAGING_SP} and {PROD_SP} exist" in result.out
    assert warnings(result.out) == table_warnings("staging", "prod", "test")
    assert ">   once the batch inference tables exist, run `invoke ci.permissions` again" in (
        result.out
    )
    assert mutating(http()) == [
        f"POST {STAGING}{UC}/schemas",
        f"POST {PROD}{UC}/schemas",
        f"POST {STAGING}{UC}/schemas",
        f"PATCH {STAGING}{UC}/permissions/catalog/staging",
        f"PATCH {PROD}{UC}/permissions/catalog/prod",
        f"PATCH {STAGING}{UC}/permissions/catalog/test",
    ]
    patches = [body for _, body, _ in exchanges(vcr, fake_api, "PATCH")]
    assert patches == [
        {"changes": [{"principal": STAGING_APP, "add": ALL_FIVE_LIST}]},
        {"changes": [{"principal": PROD_APP, "add": ALL_FIVE_LIST}]},
        {"changes": [{"principal": STAGING_APP, "add": ALL_FIVE_LIST}]},
    ]
    schemas = [body for _, body, _ in exchanges(vcr, fake_api, "POST")]
    assert [(s["catalog_name"], s["name"]) for s in schemas] == [
        ("staging", SCHEMA),
        ("prod", SCHEMA),
        ("test", SCHEMA),
    ]


@pytest.mark.vcr
def test_finished_setup_sends_no_mutating_request(cli, world, http):
    finished(world)
    result = cli("ci.permissions")
    assert result.code == 0, result.err
    assert change_lines(result.out) == []
    assert warnings(result.out) == []
    assert "once the batch inference tables exist" not in result.out
    assert f"ok  SP {STAGING_SP} has {ALL_FIVE} on catalog test" in result.out
    assert (
        f"ok  SP {PROD_SP} has SELECT on table prod.{SCHEMA}.feature_store_inference_input"
    ) in result.out
    assert "ci.permissions: no changes" in result.out
    assert mutating(http()) == []


@pytest.mark.vcr
def test_other_principals_grants_survive(cli, world, http, vcr, fake_api):
    with_sps(world)
    finished_world_for_prod_and_test(world)
    databricks_uc.add_schema(world, f"staging.{SCHEMA}")
    databricks_uc.add_grant(world, "catalog", "staging", "data-scientists", "USE_CATALOG", "SELECT")
    databricks_uc.add_grant(world, "catalog", "staging", STAGING_APP, "USE_CATALOG", "MODIFY")
    result = cli("ci.permissions")
    assert result.code == 0, result.err
    assert change_lines(result.out) == [
        f"grant USE_SCHEMA, CREATE_MODEL, CREATE_TABLE on catalog staging to SP {STAGING_SP}"
    ]
    ((uri, sent, answer),) = exchanges(vcr, fake_api, "PATCH")
    assert uri == f"{STAGING}{UC}/permissions/catalog/staging"
    assert sent == {
        "changes": [
            {"principal": STAGING_APP, "add": ["USE_SCHEMA", "CREATE_MODEL", "CREATE_TABLE"]}
        ]
    }
    assert "remove" not in json.dumps(sent)
    # the service's answer after the update: the other principal's grant is as it was
    assert {"principal": "data-scientists", "privileges": ["SELECT", "USE_CATALOG"]} in answer[
        "privilege_assignments"
    ]
    if fake_api is not None:
        assert databricks_uc.grants_on(world, "catalog", "staging")["data-scientists"] == [
            "SELECT",
            "USE_CATALOG",
        ]


def finished_world_for_prod_and_test(world) -> None:
    for catalog, app in (("prod", PROD_APP), ("test", STAGING_APP)):
        for table in ("feature_store_inference_input", "predictions"):
            databricks_uc.add_table(world, f"{catalog}.{SCHEMA}.{table}")
        databricks_uc.add_grant(world, "catalog", catalog, app, "ALL_PRIVILEGES")
        base = f"{catalog}.{SCHEMA}"
        databricks_uc.add_grant(
            world, "table", f"{base}.feature_store_inference_input", app, "SELECT"
        )
        databricks_uc.add_grant(world, "table", f"{base}.predictions", app, "ALL_PRIVILEGES")
    databricks_uc.add_table(world, f"staging.{SCHEMA}.feature_store_inference_input")
    databricks_uc.add_table(world, f"staging.{SCHEMA}.predictions")
    base = f"staging.{SCHEMA}"
    databricks_uc.add_grant(
        world, "table", f"{base}.feature_store_inference_input", STAGING_APP, "SELECT"
    )
    databricks_uc.add_grant(world, "table", f"{base}.predictions", STAGING_APP, "MODIFY")


@pytest.mark.vcr
def test_unknown_principal_right_after_creation_is_retried(cli, world, http, no_sleep):
    with_sps(world)
    world.db["uc_unknown"] = {STAGING_APP: 3}  # Unity Catalog learns of the SP late
    result = cli("ci.permissions")
    assert result.code == 0, result.err
    assert change_lines(result.out) == FRESH_CHANGES
    waits = [line.strip() for line in result.out.splitlines() if line.strip().startswith("..")]
    assert waits == [f"..  SP {STAGING_SP} in Unity Catalog: not known yet"]  # one per state
    assert no_sleep.calls == [1, 2, 4]
    patches = [u for m, u in http() if m == "PATCH"]
    assert patches == [f"{STAGING}{UC}/permissions/catalog/staging"] * 4 + [
        f"{PROD}{UC}/permissions/catalog/prod",
        f"{STAGING}{UC}/permissions/catalog/test",
    ]


@pytest.mark.vcr
def test_other_grant_errors_are_not_retried(cli, world, http, no_sleep):
    with_sps(world)
    for catalog in ("staging", "prod", "test"):
        databricks_uc.add_schema(world, f"{catalog}.{SCHEMA}")
    world.db["may_grant"] = False
    result = cli("ci.permissions")
    assert result.code == 1
    assert mutating(http()) == [f"PATCH {STAGING}{UC}/permissions/catalog/staging"]
    assert no_sleep.calls == []
    assert result.err.splitlines() == [
        f"error: workspace staging refused granting {ALL_FIVE} on catalog staging (403)",
        "  fix: ask the owner of catalog staging (or a metastore admin) to grant "
        f"{ALL_FIVE} to application id {STAGING_APP}, or to give you MANAGE on it",
        "  see: runbook/ci.md#permissions",
    ]


@pytest.mark.vcr
def test_missing_catalog_is_created(cli, world, http):
    with_sps(world)
    world.db["catalogs"] = {"staging": {}, "prod": {}}
    result = cli("ci.permissions")
    assert result.code == 0, result.err
    assert change_lines(result.out) == [
        "create catalog test (workspace staging)",
        *FRESH_CHANGES[:3],
        *FRESH_CHANGES[3:],
    ]
    # nothing is read of a catalog that is only being created: its grants are known (none)
    assert not [u for m, u in http() if m == "GET" and "/permissions/catalog/test" in u]


@pytest.mark.vcr
def test_missing_catalog_without_the_right_to_create_it(cli, world, http):
    with_sps(world)
    world.db["catalogs"] = {"staging": {}, "prod": {}}
    world.db["may_create_catalog"] = False
    result = cli("ci.permissions")
    assert result.code == 1
    assert result.err.splitlines() == [
        "error: you may not create catalog test (403, workspace staging); nothing was granted",
        "  fix: ask a metastore admin to run `CREATE CATALOG test` or `GRANT CREATE CATALOG ON "
        "METASTORE TO <you>`; or set unity_catalog.catalogs.test to an existing catalog",
        "  see: runbook/ci.md#permissions",
    ]
    # the refused creation is the first change: no schema, no grant was made before it
    assert mutating(http()) == [f"POST {STAGING}{UC}/catalogs"]


@pytest.mark.vcr
def test_missing_catalog_with_create_missing_off(cli, project, world, http):
    with_sps(world)
    world.db["catalogs"] = {"staging": {}, "prod": {}}
    project.write_config(unity_catalog={"create_missing": False})
    for args in (("ci.permissions", "--dry-run"), ("ci.permissions",)):
        result = cli(*args)
        assert result.code == 1
        assert result.err.splitlines()[:2] == [
            "error: catalog test (target test) does not exist in workspace staging",
            "  fix: have it created (`CREATE CATALOG test`), set unity_catalog.create_missing: "
            "true, or point unity_catalog.catalogs.test at an existing catalog",
        ]
    assert mutating(http()) == []


@pytest.mark.vcr
def test_batch_tables_are_granted_when_they_exist(cli, world, http):
    with_sps(world)
    databricks_uc.add_table(world, f"staging.{SCHEMA}.feature_store_inference_input")
    databricks_uc.add_table(world, f"prod.{SCHEMA}.predictions")
    result = cli("ci.permissions")
    assert result.code == 0, result.err
    assert change_lines(result.out) == [
        f"create schema test.{SCHEMA} (workspace staging)",  # the tables' schemas exist
        f"grant {ALL_FIVE} on catalog staging to SP {STAGING_SP}",
        f"grant SELECT on table staging.{SCHEMA}.feature_store_inference_input to SP {STAGING_SP}",
        f"grant {ALL_FIVE} on catalog prod to SP {PROD_SP}",
        f"grant MODIFY on table prod.{SCHEMA}.predictions to SP {PROD_SP}",
        f"grant {ALL_FIVE} on catalog test to SP {STAGING_SP}",
    ]
    assert warnings(result.out) == table_warning(
        [missing_tables("staging")[1], missing_tables("prod")[0], *missing_tables("test")]
    )


@pytest.mark.vcr
def test_grant_on_schema(cli, project, world, http, vcr, fake_api):
    project.write_config(unity_catalog={"grant_on": "schema"})
    finished(world)
    world.db["grants"] = {k: v for k, v in world.db["grants"].items() if k.startswith("table/")}
    result = cli("ci.permissions")
    assert result.code == 0, result.err
    rest = "USE_SCHEMA, MODIFY, CREATE_MODEL, CREATE_TABLE"
    assert change_lines(result.out) == [
        f"grant USE_CATALOG on catalog staging to SP {STAGING_SP}",
        f"grant {rest} on schema staging.{SCHEMA} to SP {STAGING_SP}",
        f"grant USE_CATALOG on catalog prod to SP {PROD_SP}",
        f"grant {rest} on schema prod.{SCHEMA} to SP {PROD_SP}",
        f"grant USE_CATALOG on catalog test to SP {STAGING_SP}",
        f"grant {rest} on schema test.{SCHEMA} to SP {STAGING_SP}",
    ]
    assert all("remove" not in json.dumps(body) for _, body, _ in exchanges(vcr, fake_api, "PATCH"))


@pytest.mark.vcr
def test_dry_run_lists_exactly_what_apply_does(cli, world, http):
    with_sps(world)
    plan = cli("ci.permissions", "--dry-run")
    assert plan.code == 0, plan.err
    assert mutating(http()) == []
    assert "ci.permissions: 6 to add, 0 to change, 0 to destroy" in plan.out
    applied = cli("ci.permissions")
    assert applied.code == 0, applied.err
    assert change_lines(plan.out) == change_lines(applied.out) == FRESH_CHANGES
    assert len(mutating(http())) == 6


@pytest.mark.vcr
def test_dry_run_before_the_sps_exist(cli, world, http):
    plan = cli("ci.permissions", "--dry-run")
    assert plan.code == 0, plan.err
    later = "(application id known after creation)"
    assert change_lines(plan.out) == [
        *FRESH_CHANGES[:3],
        *(f"{line} {later}" for line in FRESH_CHANGES[3:]),
    ]
    assert f"SP {PROD_SP} does not exist yet: ci.service-principals creates it" in plan.out
    applied = cli("ci.permissions")
    assert applied.code == 1
    assert applied.err.splitlines()[:2] == [
        f"error: SP {STAGING_SP} does not exist yet",
        "  fix: run `invoke ci.service-principals` first",
    ]
    assert mutating(http()) == []


# ------------------------------------------------------------------- the three steps together


FRESH_RUN = [
    # ci.prerequisites
    f"GET {STAGING}/.well-known/databricks-config",
    f"GET {STAGING}/api/2.0/preview/scim/v2/Me",
    f"GET {PROD}/.well-known/databricks-config",
    f"GET {PROD}/api/2.0/preview/scim/v2/Me",
    f"GET {ACCOUNT}/.well-known/databricks-config",
    f"GET {ACCOUNT}/api/2.0/accounts/{ACCOUNT_ID}/scim/v2/Users",
    # ci.service-principals
    f"GET {ACCOUNT}/.well-known/databricks-config",
    f"GET {ACCOUNT}/api/2.0/accounts/{ACCOUNT_ID}/scim/v2/ServicePrincipals",
    f"GET {STAGING}/.well-known/databricks-config",
    f"GET {STAGING}/api/2.0/preview/scim/v2/Me",
    f"GET {ACCOUNT}/api/2.0/accounts/{ACCOUNT_ID}/scim/v2/ServicePrincipals",
    f"GET {PROD}/.well-known/databricks-config",
    f"GET {PROD}/api/2.0/preview/scim/v2/Me",
    f"POST {ACCOUNT}/api/2.0/accounts/{ACCOUNT_ID}/scim/v2/ServicePrincipals",
    f"PUT {ACCOUNT}/api/2.0/accounts/{ACCOUNT_ID}/workspaces/1234567890123456"
    "/permissionassignments/principals/7001000000000001",
    f"GET {STAGING}/api/2.0/preview/scim/v2/ServicePrincipals",
    f"POST {ACCOUNT}/api/2.0/accounts/{ACCOUNT_ID}/scim/v2/ServicePrincipals",
    f"PUT {ACCOUNT}/api/2.0/accounts/{ACCOUNT_ID}/workspaces/6543210987654321"
    "/permissionassignments/principals/7001000000000002",
    f"GET {PROD}/api/2.0/preview/scim/v2/ServicePrincipals",
    # ci.permissions
    f"GET {ACCOUNT}/.well-known/databricks-config",
    f"GET {ACCOUNT}/api/2.0/accounts/{ACCOUNT_ID}/scim/v2/ServicePrincipals",
    f"GET {ACCOUNT}/api/2.0/accounts/{ACCOUNT_ID}/scim/v2/ServicePrincipals",
    f"GET {STAGING}/.well-known/databricks-config",
    f"GET {STAGING}{UC}/catalogs/staging",
    f"GET {STAGING}{UC}/schemas/staging.{SCHEMA}",
    f"GET {PROD}/.well-known/databricks-config",
    f"GET {PROD}{UC}/catalogs/prod",
    f"GET {PROD}{UC}/schemas/prod.{SCHEMA}",
    f"GET {STAGING}{UC}/catalogs/test",
    f"GET {STAGING}{UC}/schemas/test.{SCHEMA}",
    f"GET {STAGING}{UC}/permissions/catalog/staging",
    f"GET {PROD}{UC}/permissions/catalog/prod",
    f"GET {STAGING}{UC}/permissions/catalog/test",
    f"POST {STAGING}{UC}/schemas",
    f"POST {PROD}{UC}/schemas",
    f"POST {STAGING}{UC}/schemas",
    f"PATCH {STAGING}{UC}/permissions/catalog/staging",
    f"PATCH {PROD}{UC}/permissions/catalog/prod",
    f"PATCH {STAGING}{UC}/permissions/catalog/test",
]


@pytest.mark.vcr
def test_fresh_run_of_the_three_steps(cli, world, http):
    """A fresh account, one task after the other: every request, in order (see the README)."""
    for task in ("ci.prerequisites", "ci.service-principals", "ci.permissions"):
        result = cli(task)
        assert result.code == 0, (task, result.err)
    assert [f"{m} {u.split('?')[0]}" for m, u in http()] == FRESH_RUN
    for task in ("ci.service-principals", "ci.permissions"):
        again = cli(task)
        assert again.code == 0, again.err
        assert f"{task}: no changes" in again.out
    assert len(mutating(http())) == 10


@pytest.mark.vcr
@pytest.mark.template_input
def test_template_input_table_gets_no_grant_and_a_warning(cli, world, http):
    """The generated job reads `taxi_scoring_sample`: no full name, so nothing to grant on."""
    with_sps(world)
    databricks_uc.add_table(world, f"prod.{SCHEMA}.predictions")
    result = cli("ci.permissions")
    assert result.code == 0, result.err
    # one warning for both targets (not one each)
    assert [w for w in warnings(result.out) if "taxi_scoring_sample" in w] == [
        "batch input table 'taxi_scoring_sample' (staging, prod) is not a full "
        "catalog.schema.table name: SELECT not granted; set it in my_mlops_project/resources/"
        "batch-inference-workflow-resource.yml"
    ]
    assert f"grant MODIFY on table prod.{SCHEMA}.predictions to SP {PROD_SP}" in change_lines(
        result.out
    )
    assert not [u for m, u in http() if "taxi_scoring_sample" in u]  # never asked about it


@pytest.mark.vcr
@pytest.mark.template_input
def test_a_bare_input_table_from_the_override_is_named_where_it_is_set(cli, project, world, http):
    """The bare name comes from the config's override, which wins over the project's file: the
    warning says to set it there, not in the resources file (editing that changes nothing)."""
    override = {"unity_catalog": {"batch_inference": {"input_table": "raw_trips"}}}
    project.write_config(override=override)
    with_sps(world)
    result = cli("ci.permissions", "--dry-run")
    assert result.code == 0, result.err
    assert [w for w in warnings(result.out) if "raw_trips" in w] == [
        "batch input table 'raw_trips' (staging, prod) is not a full catalog.schema.table name: "
        "SELECT not granted; set unity_catalog.batch_inference.input_table, which the config "
        "sets (it wins over my_mlops_project/resources/batch-inference-workflow-resource.yml)"
    ]


@pytest.mark.vcr
@pytest.mark.template_input
def test_input_table_elsewhere_gets_use_on_its_catalog_and_schema(cli, project, world, http):
    """The guide asks for USE on the catalog and schema of the input and output tables."""
    path = project.root / "my_mlops_project/resources/batch-inference-workflow-resource.yml"
    path.write_text(path.read_text().replace("taxi_scoring_sample", "shared.raw.taxi_trips", 1))
    with_sps(world)
    databricks_uc.state(world)["catalogs"]["shared"] = {"owner": "admins"}  # one metastore
    databricks_uc.add_table(world, "shared.raw.taxi_trips")
    result = cli("ci.permissions")
    assert result.code == 0, result.err
    lines = change_lines(result.out)
    for env, sp in (("staging", STAGING_SP), ("prod", PROD_SP)):
        use_catalog = f"grant USE_CATALOG on catalog shared to SP {sp}"
        use_schema = f"grant USE_SCHEMA on schema shared.raw to SP {sp}"
        select = f"grant SELECT on table shared.raw.taxi_trips to SP {sp}"
        assert lines.index(use_catalog) < lines.index(use_schema) < lines.index(select), env
    # the test target shares the staging workspace and SP: granted once
    assert lines.count(f"grant SELECT on table shared.raw.taxi_trips to SP {STAGING_SP}") == 1
