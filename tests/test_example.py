"""The bundled example project and its variants.

Facts are checked by reading the written files with yaml/json (never through the project
model), against what FACTS.md says a template v0.5 rendering holds.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from mlops_setup.example import (
    CLI_VERSION,
    DEFAULT_HOSTS,
    DEFAULT_PROJECT_NAME,
    EXAMPLE_DIR,
    FIXED_MTIME,
    FOLDER,
    PLACEHOLDER_HOSTS,
    PROJECT_WORKFLOWS,
    build_cicd_tarball,
    cicd_tarball_members,
    project_files,
    write_example_project,
)

RAW = DEFAULT_PROJECT_NAME
P = FOLDER(RAW)
WF = ".github/workflows"

ROOT_FILES = {
    f"{WF}/README.md",
    f"{WF}/deploy-cicd.yml",
    f"{WF}/lint-cicd-workflow-files.yml",
    ".gitignore",
    "README.md",
    "cicd.tar.gz",
    "cicd_params.json",
    "test-requirements.txt",
    "docs/mlops-setup.md",
    "docs/ml-pull-request.md",
    "docs/images/mlops-stack-deploy.png",
    "docs/images/mlops-stack-summary.png",
}

PROJECT_FILES = {
    "README.md",
    "__init__.py",
    "databricks.yml",
    "project_params.json",
    "pytest.ini",
    "requirements.txt",
    "training/Train.py",
    "validation/ModelValidation.py",
    "validation/validation.py",
    "validation/README.md",
    "deployment/batch_inference/BatchInference.py",
    "deployment/batch_inference/predict.py",
    "deployment/batch_inference/README.md",
    "deployment/model_deployment/ModelDeployment.py",
    "deployment/model_deployment/deploy.py",
    "monitoring/README.md",
    "monitoring/MonitoredMetricViolationCheck.py",
    "monitoring/metric_violation_check_query.py",
    "resources/README.md",
    "resources/batch-inference-workflow-resource.yml",
    "resources/ml-artifacts-resource.yml",
    "resources/model-workflow-resource.yml",
    "resources/monitoring-resource.yml",
    "tests/__init__.py",
    "tests/training/__init__.py",
    "tests/training/test_notebooks.py",
}

SECRETS = {
    "aws": {"STAGING_WORKSPACE_TOKEN", "PROD_WORKSPACE_TOKEN"},
    "gcp": {"STAGING_WORKSPACE_TOKEN", "PROD_WORKSPACE_TOKEN"},
    "azure": {
        f"{env}_AZURE_SP_{key}"
        for env in ("STAGING", "PROD")
        for key in ("TENANT_ID", "APPLICATION_ID", "CLIENT_SECRET")
    },
}
HOST_RE = {
    "aws": r"https://[a-z0-9-]+\.cloud\.databricks\.com",
    "azure": r"https://adb-\d+\.\d+\.azuredatabricks\.net",
    "gcp": r"https://[a-z0-9.-]+\.gcp\.databricks\.com",
}
JOBS = {
    "model-workflow-resource.yml": ("model_training_job", "model-training-job"),
    "batch-inference-workflow-resource.yml": ("batch_inference_job", "batch-inference-job"),
    "monitoring-resource.yml": ("retraining_job", "monitoring-retraining-job"),
}


def files_of(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def load(path: Path):
    return (
        json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    )


def on(workflow: dict) -> dict:
    return workflow[True]  # YAML 1.1 reads the key `on` as True


def secrets_read(text: str) -> set[str]:
    return set(re.findall(r"\$\{\{ secrets\.(\w+) \}\}", text))


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def step(workflow: dict, name: str) -> dict:
    (found,) = [s for s in steps(workflow) if s.get("name") == name]
    return found


def echoed_targets(deploy_cicd: dict) -> dict:
    """The targets deploy-cicd's "Update databricks.yml" step means to append."""
    run = step(deploy_cicd, "Update databricks.yml")["run"]
    m = re.fullmatch(r'echo -e "(.*)" >> "\$\(PROJECT_NAME_ALPHA\)\\databricks\.yml"\n', run)
    assert m, run  # the upstream defect: a command substitution and a literal backslash
    return yaml.safe_load("targets:\n" + m[1].replace("\\n", "\n"))["targets"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_example_project(tmp_path / "repo")


# --- the stored rendering ----------------------------------------------------------------------


def test_the_stored_tree_is_the_default_rendering(project: Path) -> None:
    stored = {
        p.relative_to(EXAMPLE_DIR).as_posix()
        for p in EXAMPLE_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert files_of(project) == stored
    for rel in stored:
        assert (project / rel).read_bytes() == (EXAMPLE_DIR / rel).read_bytes(), rel
    assert not (EXAMPLE_DIR / "__init__.py").exists()  # package data, not a package


def test_layout_of_cicd_and_project(project: Path) -> None:
    assert files_of(project) == ROOT_FILES | set(PROJECT_WORKFLOWS(RAW)) | {
        f"{P}/{f}" for f in PROJECT_FILES
    }


def test_layout_of_cicd_only(tmp_path: Path) -> None:
    root = write_example_project(tmp_path / "r", "churn-model", mode="CICD_Only")
    assert files_of(root) == ROOT_FILES
    deploy = load(root / WF / "deploy-cicd.yml")
    assert on(deploy)["workflow_dispatch"]["inputs"]["project_name"]["default"] == "churn-model"


def test_layout_of_project_only(tmp_path: Path) -> None:
    root = write_example_project(tmp_path / "r", "churn-model", mode="Project_Only")
    assert files_of(root) == {f"churn_model/{f}" for f in PROJECT_FILES}
    targets = load(root / "churn_model" / "databricks.yml")["targets"]
    assert list(targets) == ["dev"]  # the template renders the other targets with CI/CD only


def test_without_cicd_is_a_project_only_project_in_a_cicd_only_root(tmp_path: Path) -> None:
    without = write_example_project(tmp_path / "without", with_cicd=False)
    with_ = write_example_project(tmp_path / "with")
    assert files_of(with_) - files_of(without) == set(PROJECT_WORKFLOWS(RAW))
    assert files_of(without) < files_of(with_)
    differ = {
        r for r in files_of(without) if (without / r).read_bytes() != (with_ / r).read_bytes()
    }
    assert differ == {f"{P}/databricks.yml"}
    assert list(load(without / P / "databricks.yml")["targets"]) == ["dev"]


def test_fix_targets_appends_what_deploy_cicd_means_to(tmp_path: Path) -> None:
    full = write_example_project(tmp_path / "full")
    fixed = write_example_project(tmp_path / "fixed", with_cicd=False, fix_targets=True)
    assert (fixed / P / "databricks.yml").read_bytes() == (full / P / "databricks.yml").read_bytes()
    targets = load(full / P / "databricks.yml")["targets"]
    assert echoed_targets(load(full / WF / "deploy-cicd.yml")) == {
        t: targets[t] for t in ("staging", "prod", "test")
    }


def test_a_monorepo_root_with_two_projects(tmp_path: Path) -> None:
    root = write_example_project(tmp_path / "r", also=["churn-model"])
    files = files_of(root)
    assert set(PROJECT_WORKFLOWS(RAW)) | set(PROJECT_WORKFLOWS("churn-model")) <= files
    assert {f"{P}/databricks.yml", "churn_model/databricks.yml"} <= files
    assert {f for f in files if "/" not in f or f.startswith(("docs/", WF + "/d"))} == {
        f for f in ROOT_FILES if "/" not in f or f.startswith(("docs/", WF + "/d"))
    }
    second = load(root / "churn_model" / "databricks.yml")
    assert second["bundle"]["name"] == "churn-model"
    assert list(second["targets"]) == ["dev"]  # added as Project_Only, deploy-cicd's defect
    assert list(load(root / P / "databricks.yml")["targets"]) == ["dev", "staging", "prod", "test"]
    ci = load(root / PROJECT_WORKFLOWS("churn-model")[0])
    assert on(ci)["pull_request"]["paths"] == ["churn_model/**"]
    deploy = load(root / WF / "deploy-cicd.yml")
    assert on(deploy)["workflow_dispatch"]["inputs"]["project_name"]["default"] == RAW
    fixed = write_example_project(tmp_path / "f", also=["churn-model"], fix_targets=True)
    assert list(load(fixed / "churn_model" / "databricks.yml")["targets"]) == [
        "dev",
        "staging",
        "prod",
        "test",
    ]
    lone = write_example_project(tmp_path / "l", also=["churn-model"], with_cicd=False)
    assert not {*PROJECT_WORKFLOWS(RAW), *PROJECT_WORKFLOWS("churn-model")} & files_of(lone)


# --- names, determinism ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "folder"),
    [
        ("my-mlops-project", "my_mlops_project"),
        ("my_mlops_project", "my_mlops_project"),
        ("churn-model", "churn_model"),
        ("Churn-Model-2", "Churn_Model_2"),
        ("a+b=c!d", "abcd"),
        ("fraud detection", "frauddetection"),
    ],
)
def test_folder_rule(raw: str, folder: str) -> None:
    assert FOLDER(raw) == folder


def test_project_workflows_use_the_raw_name() -> None:
    assert PROJECT_WORKFLOWS("churn-model") == [
        f"{WF}/churn-model-bundle-ci.yml",
        f"{WF}/churn-model-bundle-cd-staging.yml",
        f"{WF}/churn-model-bundle-cd-prod.yml",
        f"{WF}/churn-model-run-tests.yml",
    ]


def test_two_generations_are_identical_down_to_the_git_tree(tmp_path: Path) -> None:
    trees = []
    for sub in ("a", "b"):
        root = write_example_project(tmp_path / sub, "churn-model", cloud="azure")
        for path in [root, *root.rglob("*")]:
            st = path.stat()
            assert st.st_mtime == FIXED_MTIME, path
            assert (st.st_mode & 0o777) == (0o755 if path.is_dir() else 0o644), path
        env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
        git = ["git", "-C", str(root)]
        subprocess.run([*git, "init", "-q"], check=True, env=env)
        subprocess.run([*git, "add", "-A"], check=True, env=env)
        out = subprocess.run([*git, "write-tree"], check=True, env=env, capture_output=True)
        trees.append(out.stdout.strip())
    assert trees[0] == trees[1]


def test_variants_differ_only_where_the_facts_do() -> None:
    base = project_files()
    branches = project_files(default_branch="master", release_branch="prod-release")
    changed = {p for p in base if base[p] != branches[p]}
    assert changed == {
        f"{WF}/deploy-cicd.yml",
        PROJECT_WORKFLOWS(RAW)[1],
        PROJECT_WORKFLOWS(RAW)[2],
        "cicd_params.json",
        "docs/mlops-setup.md",
        "docs/ml-pull-request.md",
    }
    azure = project_files(cloud="azure")
    changed = {p for p in base if base[p] != azure[p]}
    assert changed == {
        f"{WF}/deploy-cicd.yml",
        *PROJECT_WORKFLOWS(RAW),
        "cicd_params.json",
        f"{P}/project_params.json",
        f"{P}/databricks.yml",
    }


# --- every variant's facts ---------------------------------------------------------------------

VARIANTS = list(
    itertools.product(
        ["aws", "azure", "gcp"],
        ["CICD_and_Project", "CICD_Only", "Project_Only"],
        ["my-mlops-project", "churn-model"],
        ["main", "master"],
    )
)


@pytest.mark.parametrize(("cloud", "mode", "raw", "branch"), VARIANTS)
def test_variant_facts(tmp_path: Path, cloud: str, mode: str, raw: str, branch: str) -> None:
    root = write_example_project(tmp_path / "r", raw, cloud=cloud, mode=mode, default_branch=branch)
    p = FOLDER(raw)
    hosts = DEFAULT_HOSTS[cloud]
    for host in hosts.values():
        assert re.fullmatch(HOST_RE[cloud], host)
    files = files_of(root)
    if mode != "Project_Only":
        check_root(root, cloud, raw, branch, hosts)
    else:
        assert not [f for f in files if not f.startswith(f"{p}/")]
    if mode == "CICD_Only":
        assert not [f for f in files if f.startswith(f"{p}/")]
        assert not set(PROJECT_WORKFLOWS(raw)) & files
        return
    check_project(root, cloud, raw, hosts, all_targets=mode == "CICD_and_Project")
    if mode == "CICD_and_Project":
        check_project_workflows(root, cloud, raw, branch)
    else:
        assert not [f for f in files if f.startswith(".github/")]


def check_root(root: Path, cloud: str, raw: str, branch: str, hosts: dict[str, str]) -> None:
    params = load(root / "cicd_params.json")
    assert params["input_cloud"] == cloud
    assert params["input_root_dir"] == raw
    assert params["input_cicd_platform"] == "github_actions"
    assert (params["input_default_branch"], params["input_release_branch"]) == (branch, "release")
    assert params["input_cli_version"] == CLI_VERSION
    assert {params[f"{t}_catalog_name"] for t in ("staging", "prod", "test")} == {
        "staging",
        "prod",
        "test",
    }

    path = root / WF / "deploy-cicd.yml"
    text, deploy = path.read_text(), load(path)
    inputs = on(deploy)["workflow_dispatch"]["inputs"]
    assert inputs["project_name"] == {
        "description": "Project Name",
        "required": True,
        "default": raw,
    }
    assert deploy["env"]["DATABRICKS_HOST"] == hosts["staging"]
    if cloud == "azure":
        assert {k: v for k, v in deploy["env"].items() if k.startswith("ARM_")} == {
            "ARM_TENANT_ID": "${{ secrets.STAGING_AZURE_SP_TENANT_ID }}",
            "ARM_CLIENT_ID": "${{ secrets.STAGING_AZURE_SP_APPLICATION_ID }}",
            "ARM_CLIENT_SECRET": "${{ secrets.STAGING_AZURE_SP_CLIENT_SECRET }}",
        }
        assert "DATABRICKS_TOKEN" not in deploy["env"]
    else:
        assert deploy["env"]["DATABRICKS_TOKEN"] == "${{ secrets.STAGING_WORKSPACE_TOKEN }}"
    checkout = next(s for s in steps(deploy) if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["token"] == "${{ secrets.WORKFLOW_TOKEN }}"
    assert {s["uses"] for s in steps(deploy) if "setup-cli" in s.get("uses", "")} == {
        f"databricks/setup-cli@{CLI_VERSION}"
    }
    run = "\n".join(s.get("run", "") for s in steps(deploy))
    assert "tar -xzvf cicd.tar.gz" in run
    assert "tr ' -' '_'" in run
    assert "databricks bundle init ./cicd" in run
    assert 'git add .github "$PROJECT_NAME_ALPHA/databricks.yml"' in run
    branch_name = "add-cicd-for-${{ github.event.inputs.project_name }}-${{ env.timestamp }}"
    assert 'git push origin "$BRANCH"' in run and f'BRANCH="{branch_name}"' in run
    pr = " ".join(step(deploy, "Open the pull request")["run"].replace("\\\n", " ").split())
    assert f"--base {branch} " in pr
    assert f'--head "{branch_name}"' in pr
    assert pr.endswith("--reviewer ${{ github.actor }}")
    assert step(deploy, "Open the pull request")["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}
    assert echoed_targets(deploy) == {
        "staging": {
            "variables": {"catalog_name": "staging"},
            "workspace": {"host": hosts["staging"]},
        },
        "prod": {"variables": {"catalog_name": "prod"}, "workspace": {"host": hosts["prod"]}},
        "test": {"variables": {"catalog_name": "test"}, "workspace": {"host": hosts["staging"]}},
    }
    assert secrets_read(text) == SECRETS[cloud] - {"PROD_WORKSPACE_TOKEN"} - {
        s for s in SECRETS["azure"] if s.startswith("PROD_")
    } | {"WORKFLOW_TOKEN"}
    assert "permissions" not in deploy

    lint = load(root / WF / "lint-cicd-workflow-files.yml")
    assert on(lint)["pull_request"]["paths"] == [".github/workflows/**"]
    for doc in ("docs/mlops-setup.md", "docs/ml-pull-request.md"):
        assert f"`{branch}`" in (root / doc).read_text()
    assert "`release`" in (root / "docs/mlops-setup.md").read_text()


def check_project(
    root: Path, cloud: str, raw: str, hosts: dict[str, str], *, all_targets: bool
) -> None:
    p = FOLDER(raw)
    folder = root / p
    assert {
        f.removeprefix(f"{p}/") for f in files_of(root) if f.startswith(f"{p}/")
    } == PROJECT_FILES
    assert load(folder / "project_params.json") == {
        "input_cloud": cloud,
        "input_include_feature_store": "no",
    }

    text = (folder / "databricks.yml").read_text()
    bundle = load(folder / "databricks.yml")
    assert bundle["bundle"]["name"] == raw
    assert re.fullmatch(r"[0-9a-f-]{36}", bundle["bundle"]["uuid"])
    assert bundle["variables"]["model_name"]["default"] == f"{raw}-model"
    assert set(bundle["variables"]) == {"experiment_name", "model_name", "catalog_name"}
    assert bundle["include"] == [
        "./resources/batch-inference-workflow-resource.yml",
        "./resources/ml-artifacts-resource.yml",
        "./resources/model-workflow-resource.yml",
    ]
    assert "  # - ./resources/monitoring-resource.yml\n" in text
    targets = bundle["targets"]
    assert targets["dev"] == {
        "mode": "development",
        "default": True,
        "variables": {"catalog_name": "dev"},
        "workspace": {"host": None},
    }
    if all_targets:
        assert list(targets) == ["dev", "staging", "prod", "test"]
        for target, host in [("staging", "staging"), ("prod", "prod"), ("test", "staging")]:
            assert targets[target] == {
                "variables": {"catalog_name": target},
                "workspace": {"host": hosts[host]},
            }
    else:
        assert list(targets) == ["dev"]

    resources = folder / "resources"
    artifacts = load(resources / "ml-artifacts-resource.yml")["resources"]
    model = artifacts["registered_models"]["model"]
    assert model["schema_name"] == raw  # the template's default schema: the raw name
    assert (model["name"], model["catalog_name"]) == ("${var.model_name}", "${var.catalog_name}")
    assert model["grants"] == [{"privileges": ["EXECUTE"], "principal": "account users"}]
    assert artifacts["experiments"]["experiment"]["name"] == "${var.experiment_name}"

    for file, (key, suffix) in JOBS.items():
        job = load(resources / file)["resources"]["jobs"][key]
        assert job["name"] == f"${{bundle.target}}-{raw}-{suffix}"
        assert job["schedule"]["pause_status"] == "UNPAUSED"
        assert job["permissions"] == [{"level": "CAN_VIEW", "group_name": "users"}]
        assert "job_clusters" not in job
        assert [e["spec"]["environment_version"] for e in job["environments"]] == ["5"]
        for task in job["tasks"]:
            assert "new_cluster" not in task and "job_cluster_key" not in task
            if "notebook_task" in task:
                assert task["environment_key"] == "default"
                assert (resources / task["notebook_task"]["notebook_path"]).is_file()
    training = load(resources / "model-workflow-resource.yml")["resources"]["jobs"]
    assert [t["task_key"] for t in training["model_training_job"]["tasks"]] == [
        "Train",
        "ModelValidation",
        "ModelDeployment",
    ]
    params = training["model_training_job"]["tasks"][0]["notebook_task"]["base_parameters"]
    assert params["model_name"] == f"${{var.catalog_name}}.{raw}.${{var.model_name}}"

    batch_text = (resources / "batch-inference-workflow-resource.yml").read_text()
    batch = load(resources / "batch-inference-workflow-resource.yml")["resources"]["jobs"]
    job = batch["batch_inference_job"]
    assert job["schedule"]["quartz_cron_expression"] == "0 0 11 * * ?"
    params = job["tasks"][0]["notebook_task"]["base_parameters"]
    assert params["input_table_name"] == "taxi_scoring_sample"
    assert re.search(r"input_table_name: taxi_scoring_sample +# TODO", batch_text)
    assert params["output_table_name"] == f"${{var.catalog_name}}.{raw}.predictions"
    assert params["model_name"] == f"${{var.catalog_name}}.{raw}.${{var.model_name}}"


def check_project_workflows(root: Path, cloud: str, raw: str, branch: str) -> None:
    p = FOLDER(raw)
    ci_path, staging_path, prod_path, tests_path = (root / w for w in PROJECT_WORKFLOWS(raw))
    ci, staging, prod, tests = (load(w) for w in (ci_path, staging_path, prod_path, tests_path))

    assert on(ci)["pull_request"] == {"paths": [f"{p}/**"]}
    assert on(tests)["pull_request"] == {
        "paths": [f"{p}/**", f".github/workflows/{raw}-run-tests.yml"]
    }
    assert on(staging)["push"] == {"branches": [branch]}  # no paths filter
    assert on(prod)["push"] == {"branches": ["release"]}
    for wf in (ci, staging, prod, tests):
        assert "workflow_dispatch" in on(wf)
        assert wf["defaults"]["run"]["working-directory"].rstrip("/") == f"./{p}"
        assert raw in wf["name"]
        assert "permissions" not in wf
        assert {s["uses"] for s in steps(wf) if "setup-cli" in s.get("uses", "")} == {
            f"databricks/setup-cli@{CLI_VERSION}"
        }
    assert ci["name"] == f"Bundle validation for {raw}"
    assert staging["name"] == f"Bundle Deployment for {raw} Staging"
    assert prod["name"] == f"Bundle Deployment for {raw} Prod"
    assert {j["concurrency"] for j in ci["jobs"].values()} == {
        f"{raw}-staging-bundle-job",
        f"{raw}-prod-bundle-job",
    }
    assert staging["jobs"]["staging"]["concurrency"] == f"{raw}-staging-bundle-job"
    assert prod["jobs"]["prod"]["concurrency"] == f"{raw}-prod-bundle-job"
    assert tests["concurrency"] == f"{p}-training-integration-test-staging"

    runs = {
        name: " ".join(s.get("run", "") for s in steps(wf))
        for name, wf in [("ci", ci), ("staging", staging), ("prod", prod), ("tests", tests)]
    }
    assert "bundle validate -t staging" in runs["ci"] and "bundle validate -t prod" in runs["ci"]
    assert "bundle deploy -t staging" in runs["staging"]
    assert "bundle deploy -t prod" in runs["prod"]
    assert "bundle deploy -t test" in runs["tests"]
    assert "bundle run model_training_job -t test" in runs["tests"]

    staging_only = {s for s in SECRETS[cloud] if s.startswith("STAGING_")}
    prod_only = {s for s in SECRETS[cloud] if s.startswith("PROD_")}
    assert secrets_read(ci_path.read_text()) == SECRETS[cloud] | {"GITHUB_TOKEN"}
    assert secrets_read(staging_path.read_text()) == staging_only
    assert secrets_read(prod_path.read_text()) == prod_only
    assert secrets_read(tests_path.read_text()) == staging_only
    if cloud == "azure":
        assert staging["env"] == {
            "ARM_TENANT_ID": "${{ secrets.STAGING_AZURE_SP_TENANT_ID }}",
            "ARM_CLIENT_ID": "${{ secrets.STAGING_AZURE_SP_APPLICATION_ID }}",
            "ARM_CLIENT_SECRET": "${{ secrets.STAGING_AZURE_SP_CLIENT_SECRET }}",
        }
        assert set(ci["env"]) == {
            f"{env}_ARM_{k}"
            for env in ("STAGING", "PROD")
            for k in ("TENANT_ID", "CLIENT_ID", "CLIENT_SECRET")
        }
        validate = step(ci, "Validate Bundle For Prod")["env"]
        assert validate == {
            f"ARM_{k}": f"${{{{ env.PROD_ARM_{k} }}}}"
            for k in ("TENANT_ID", "CLIENT_ID", "CLIENT_SECRET")
        }
    else:
        assert staging["env"] == {"DATABRICKS_TOKEN": "${{ secrets.STAGING_WORKSPACE_TOKEN }}"}
        assert prod["env"] == {"DATABRICKS_TOKEN": "${{ secrets.PROD_WORKSPACE_TOKEN }}"}
        assert step(ci, "Validate Bundle For Staging")["env"] == {
            "DATABRICKS_TOKEN": "${{ env.STAGING_WORKSPACE_TOKEN }}"
        }


# --- hosts and catalogs ------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["aws", "azure", "gcp"])
def test_placeholder_hosts(tmp_path: Path, cloud: str) -> None:
    root = write_example_project(tmp_path / "r", cloud=cloud, placeholder_hosts=True)
    targets = load(root / P / "databricks.yml")["targets"]
    assert targets["staging"]["workspace"]["host"] == PLACEHOLDER_HOSTS[cloud]["staging"]
    assert targets["prod"]["workspace"]["host"] == PLACEHOLDER_HOSTS[cloud]["prod"]
    assert targets["test"]["workspace"]["host"] == PLACEHOLDER_HOSTS[cloud]["staging"]
    deploy = load(root / WF / "deploy-cicd.yml")
    assert deploy["env"]["DATABRICKS_HOST"] == PLACEHOLDER_HOSTS[cloud]["staging"]
    assert echoed_targets(deploy)["prod"]["workspace"]["host"] == PLACEHOLDER_HOSTS[cloud]["prod"]
    if cloud == "azure":
        assert targets["prod"]["workspace"]["host"] == "https://adb-xxxx.xx.azuredatabricks.net"
    everything = "".join(
        (root / f).read_text() for f in files_of(root) if not f.endswith((".png", ".gz"))
    )
    for host in DEFAULT_HOSTS[cloud].values():
        assert host not in everything


def test_catalogs_and_hosts_given(tmp_path: Path) -> None:
    catalogs = {"dev": "sandbox", "staging": "ml_staging", "prod": "ml_prod", "test": "ml_test"}
    hosts = {
        "staging": "https://adb-1.1.azuredatabricks.net",
        "prod": "https://adb-2.2.azuredatabricks.net",
    }
    root = write_example_project(
        tmp_path / "r", "churn-model", cloud="azure", catalogs=catalogs, hosts=hosts
    )
    targets = load(root / "churn_model" / "databricks.yml")["targets"]
    assert {t: v["variables"]["catalog_name"] for t, v in targets.items()} == catalogs
    assert targets["prod"]["workspace"]["host"] == hosts["prod"]
    assert targets["test"]["workspace"]["host"] == hosts["staging"]
    deploy = load(root / WF / "deploy-cicd.yml")
    assert deploy["env"]["DATABRICKS_HOST"] == hosts["staging"]
    assert {t: v["variables"]["catalog_name"] for t, v in echoed_targets(deploy).items()} == {
        t: catalogs[t] for t in ("staging", "prod", "test")
    }
    params = load(root / "cicd_params.json")
    assert params["prod_catalog_name"] == "ml_prod" and params["test_catalog_name"] == "ml_test"
    partial = write_example_project(tmp_path / "p", catalogs={"prod": "gold"})
    targets = load(partial / P / "databricks.yml")["targets"]
    assert [targets[t]["variables"]["catalog_name"] for t in targets] == [
        "dev",
        "staging",
        "gold",
        "test",
    ]


# --- cicd.tar.gz -------------------------------------------------------------------------------


def test_cicd_tarball_is_built_from_the_workflows(project: Path) -> None:
    data = (project / "cicd.tar.gz").read_bytes()
    assert data[4:8] == b"\0\0\0\0"  # gzip header mtime
    assert gzip.decompress(data) == gzip.decompress(build_cicd_tarball())
    with tarfile.open(project / "cicd.tar.gz") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names)
        assert all(n == "cicd" or n.startswith("cicd/") for n in names)
        assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, FIXED_MTIME)}
        texts = {m.name: tar.extractfile(m).read().decode() for m in members if m.isfile()}
    assert texts == cicd_tarball_members()
    assert set(texts) == {
        "cicd/databricks_template_schema.json",
        "cicd/library/template_variables.tmpl",
        "cicd/template/update_layout.tmpl",
        *(
            f"cicd/template/{w.replace(RAW, '{{.input_project_name}}')}.tmpl"
            for w in PROJECT_WORKFLOWS(RAW)
        ),
    }
    schema = json.loads(texts["cicd/databricks_template_schema.json"])
    merged = {**load(project / "cicd_params.json"), **load(project / P / "project_params.json")}
    assert set(merged) | {"input_project_name"} == set(schema["properties"])


def test_cicd_tarball_is_the_same_for_every_variant() -> None:
    tarball = project_files()["cicd.tar.gz"]
    assert (
        project_files("churn-model", cloud="azure", default_branch="master")["cicd.tar.gz"]
        == tarball
    )


_GO_ACTION = re.compile(r"\{\{(-?) ?(`[^`]*`|.*?) ?(-?)\}\}")


def render_go_template(text: str, values: dict[str, str]) -> str:
    """The subset of Go's text/template our workflow templates use, trim markers included."""
    parts: list[list] = []  # ["text", s] or ["action", s]
    pos = 0
    for m in _GO_ACTION.finditer(text):
        parts.append(["text", text[pos : m.start()]])
        if m[1] and parts[-1][1]:
            parts[-1][1] = parts[-1][1].rstrip()
        parts.append(["action", m[2], bool(m[3])])
        pos = m.end()
    parts.append(["text", text[pos:]])
    out: list[str] = []
    stack: list[bool] = []
    trim_next = False
    for part in parts:
        if part[0] == "text":
            chunk = part[1].lstrip() if trim_next else part[1]
            trim_next = False
            if all(stack):
                out.append(chunk)
            continue
        action, trim_next = part[1], part[2]
        if m := re.fullmatch(r"if \(eq \.(\w+) `(\w+)`\)", action):
            stack.append(values[m[1]] == m[2])
        elif action == "else":
            stack[-1] = not stack[-1]
        elif action == "end":
            stack.pop()
        elif not all(stack):
            continue
        elif action.startswith("`"):
            out.append(action[1:-1])
        elif m := re.fullmatch(r"\.(\w+)|template `(\w+)` \.", action):
            out.append(values[m[1] or m[2]])
        else:
            raise AssertionError(f"unexpected template action {action!r}")
    return "".join(out)


@pytest.mark.parametrize(
    ("cloud", "raw", "branch"),
    [("aws", RAW, "main"), ("azure", "churn-model", "master"), ("gcp", "x-y_z", "trunk")],
)
def test_cicd_tarball_renders_the_project_workflows(cloud: str, raw: str, branch: str) -> None:
    """What deploy-cicd renders from cicd.tar.gz is what a CICD_and_Project rendering holds."""
    files = project_files(raw, cloud=cloud, default_branch=branch, release_branch="rel")
    values = {
        "input_cloud": cloud,
        "input_project_name": raw,
        "input_default_branch": branch,
        "input_release_branch": "rel",
        "project_name_alphanumeric_underscore": FOLDER(raw),
        "cli_version": CLI_VERSION,
    }
    members = cicd_tarball_members()
    for path in PROJECT_WORKFLOWS(raw):
        member = "cicd/template/" + path.replace(raw, "{{.input_project_name}}", 1) + ".tmpl"
        assert render_go_template(members[member], values) == files[path].decode(), path


# --- refusals ----------------------------------------------------------------------------------


def test_refuses_non_empty_dest(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        write_example_project(tmp_path)
    assert files_of(tmp_path) == {"keep.txt"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "../escape"},
        {"name": "ab"},
        {"name": "has space"},
        {"name": "-dash"},
        {"mode": "Both"},
        {"cloud": "oci"},
        {"catalogs": {"qa": "x"}},
        {"hosts": {"dev": "https://x"}},
        {"hosts": {"prod": "https://a b"}},
        {"default_branch": "release"},
        {"default_branch": "-x"},
        {"also": ["my_mlops_project"]},
    ],
)
def test_refuses_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        write_example_project(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_refuses_a_file_as_dest(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match="not a directory"):
        write_example_project(tmp_path / "f")


def test_empty_existing_dest_is_fine(tmp_path: Path) -> None:
    assert write_example_project(tmp_path) == tmp_path
    assert (tmp_path / P / "databricks.yml").is_file()


# --- content -----------------------------------------------------------------------------------


def test_pngs_are_tiny_and_valid(project: Path) -> None:
    pngs = sorted((project / "docs" / "images").glob("*.png"))
    assert len(pngs) == 2
    for png in pngs:
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert data.endswith(b"IEND\xaeB`\x82")
        assert len(data) < 1000


def test_setup_guide_has_the_guide_sections(project: Path) -> None:
    text = (project / "docs" / "mlops-setup.md").read_text()
    assert len(text.splitlines()) <= 80
    for heading in [
        "Create a hosted Git repo",
        "Configure CI/CD - GitHub Actions",
        "Prerequisites",
        "Set up Service Principal",
        "Configure Service Principal (SP) permissions",
        "Set secrets for CI/CD",
        "Setting up CI/CD workflows",
        "Merge a PR with your initial ML code",
        "Create release branch",
        "Deploy ML resources and enable production jobs",
        "Next steps",
    ]:
        assert f" {heading}\n" in text, heading


MIRROR = Path("/work/.mirror/databricks+mlops-stacks/repo")


def _norm(line: str) -> str:
    line = re.sub(r"\{\{`(.*?)`\}\}", r"\1", line)
    line = line.replace("{{ .input_project_name }}", RAW)
    line = line.replace("{{template `project_name_alphanumeric_underscore` .}}", P)
    return " ".join(line.split())


def is_prose(path: str, line: str) -> bool:
    """A Markdown line that is not a heading, or a comment of four words or more."""
    if path.endswith(".md"):
        return not line.startswith("#")
    words = re.findall(r"[A-Za-z]{2,}", re.sub(r"\S*[./]\S*", "", line))  # paths are no words
    return line.startswith("# ") and len(words) >= 4


@pytest.mark.skipif(not MIRROR.is_dir(), reason="no local copy of the MLOps Stacks template")
def test_no_template_text_was_copied() -> None:
    """Facts carry over (keys, names, commands); comments and prose are ours, and most lines."""

    def git(*args: str) -> bytes:
        return subprocess.run(
            ["git", "-C", str(MIRROR), *args], capture_output=True, check=True
        ).stdout

    theirs: set[str] = set()
    for name in git("ls-tree", "-r", "--name-only", "HEAD").decode().splitlines():
        if name.endswith((".png", ".gz", ".parquet")):
            continue
        text = git("show", f"HEAD:{name}").decode("utf-8", "replace")
        theirs |= {n for n in map(_norm, text.splitlines()) if len(n) >= 25}
    ours = {p: b.decode() for p, b in project_files().items() if not p.endswith((".png", ".gz"))}
    ours.update(cicd_tarball_members())
    prose = [
        (p, n)
        for p, text in ours.items()
        for n in map(_norm, text.splitlines())
        if n in theirs and is_prose(p, n)
    ]
    assert not prose
    long_lines = {
        n for text in ours.values() for n in map(_norm, text.splitlines()) if len(n) >= 40
    }
    shared = long_lines & theirs  # keys and values, secret names, commands: facts
    assert len(shared) < 0.25 * len(long_lines), sorted(shared)


@pytest.mark.slow
def test_generated_unit_tests_pass(project: Path) -> None:
    if not shutil.which("git"):
        pytest.skip("git missing")
    # plain pytest, as the project's requirements.txt has it: not this repository's dev plugins
    # (hypothesis, xdist, vcr, ...), whose loading and assertion rewriting took 2.5 s of the 3
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project / P,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
