"""A deterministic, offline stand-in for a generated MLOps Stacks project.

`write_example_project` lays out the tree that `databricks bundle init mlops-stacks` produces
for GitHub Actions, Unity Catalog, no feature store, on AWS: the bundle under `<p>/`, the
root-level CI/CD bootstrap (`deploy-cicd.yml`, `cicd.tar.gz`, `cicd_params.json`) and, with
`with_cicd=True`, the four per-project workflows that `deploy-cicd.yml` would otherwise generate.

The content is short but recognisable; every byte, file mode and mtime is fixed, so two calls
produce identical trees. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
from pathlib import Path

__all__ = [
    "DEFAULT_PROJECT_NAME",
    "FIXED_MTIME",
    "PROJECT_WORKFLOWS",
    "write_example_project",
]

DEFAULT_PROJECT_NAME = "my_mlops_project"
FIXED_MTIME = 1767225600  # 2026-01-01T00:00:00Z
FILE_MODE = 0o644
DIR_MODE = 0o755

DEV_HOST = "https://dev.cloud.databricks.com"
STAGING_HOST = "https://staging.cloud.databricks.com"
PROD_HOST = "https://prod.cloud.databricks.com"
CLI_VERSION = "v0.236.0"

_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_P = "@P@"  # placeholder for the project name in the texts below


def PROJECT_WORKFLOWS(name: str = DEFAULT_PROJECT_NAME) -> list[str]:
    """The four per-project workflows (paths relative to the root) that deploy-cicd generates."""
    return [
        f".github/workflows/{name}-bundle-ci.yml",
        f".github/workflows/{name}-bundle-cd-staging.yml",
        f".github/workflows/{name}-bundle-cd-prod.yml",
        f".github/workflows/{name}-run-tests.yml",
    ]


def write_example_project(
    dest: Path, name: str = DEFAULT_PROJECT_NAME, *, with_cicd: bool = True
) -> Path:
    """Create the example project with root `dest` and return `dest`.

    `dest` is created if missing; an existing non-empty directory (or a non-directory) is refused
    with ValueError. With `with_cicd=False` the per-project workflows are left out, as in a repo
    where `deploy-cicd.yml` has not run yet.
    """
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"invalid project name {name!r}: use letters, digits, '_' and '-'")
    dest = Path(dest)
    if dest.exists():
        if not dest.is_dir():
            raise ValueError(f"{dest} exists and is not a directory")
        if any(dest.iterdir()):
            raise ValueError(f"{dest} exists and is not empty; refusing to write into it")
    files = project_files(name, with_cicd=with_cicd)
    dest.mkdir(parents=True, exist_ok=True)
    dirs: set[Path] = {dest}
    for rel in sorted(files):
        path = dest / rel
        parent = path.parent
        parent.mkdir(parents=True, exist_ok=True)
        while parent != dest:
            dirs.add(parent)
            parent = parent.parent
        path.write_bytes(files[rel])
        os.chmod(path, FILE_MODE)
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        os.chmod(d, DIR_MODE)
        os.utime(d, (FIXED_MTIME, FIXED_MTIME))
    return dest


def project_files(name: str = DEFAULT_PROJECT_NAME, *, with_cicd: bool = True) -> dict[str, bytes]:
    """Every file of the example project: relative POSIX path -> content."""
    texts: dict[str, str] = {
        ".gitignore": _GITIGNORE,
        "README.md": _ROOT_README,
        "test-requirements.txt": "pytest>=7.1.2\n",
        "cicd_params.json": _json(_cicd_params()),
        ".github/workflows/README.md": _WORKFLOWS_README,
        ".github/workflows/deploy-cicd.yml": _DEPLOY_CICD,
        ".github/workflows/lint-cicd-workflow-files.yml": _LINT_WORKFLOWS,
        "docs/mlops-setup.md": _DOCS_SETUP,
        "docs/ml-pull-request.md": _DOCS_PR,
        f"{_P}/README.md": _PROJECT_README,
        f"{_P}/__init__.py": "",
        f"{_P}/databricks.yml": _DATABRICKS_YML,
        f"{_P}/project_params.json": _json(_project_params(name)),
        f"{_P}/pytest.ini": _PYTEST_INI,
        f"{_P}/requirements.txt": _REQUIREMENTS,
        f"{_P}/deployment/batch_inference/README.md": _BATCH_README,
        f"{_P}/deployment/batch_inference/predict.py": _PREDICT_PY,
        f"{_P}/deployment/batch_inference/notebooks/BatchInference.py": _BATCH_NOTEBOOK,
        f"{_P}/deployment/model_deployment/deploy.py": _DEPLOY_PY,
        f"{_P}/deployment/model_deployment/notebooks/ModelDeployment.py": _DEPLOY_NOTEBOOK,
        f"{_P}/monitoring/README.md": _MONITORING_README,
        f"{_P}/resources/README.md": _RESOURCES_README,
        f"{_P}/resources/batch-inference-workflow-resource.yml": _BATCH_RESOURCE,
        f"{_P}/resources/ml-artifacts-resource.yml": _ARTIFACTS_RESOURCE,
        f"{_P}/resources/model-workflow-resource.yml": _MODEL_RESOURCE,
        f"{_P}/resources/monitoring-resource.yml": _MONITORING_RESOURCE,
        f"{_P}/tests/training/test_notebooks.py": _TEST_NOTEBOOKS,
        f"{_P}/tests/deployment/test_deploy.py": _TEST_DEPLOY,
        f"{_P}/training/notebooks/Train.py": _TRAIN_NOTEBOOK,
        f"{_P}/validation/README.md": _VALIDATION_README,
        f"{_P}/validation/validation.py": _VALIDATION_PY,
        f"{_P}/validation/notebooks/ModelValidation.py": _VALIDATION_NOTEBOOK,
    }
    if with_cicd:
        texts.update(zip(PROJECT_WORKFLOWS(_P), _project_workflow_texts(), strict=True))
    files = {
        rel.replace(_P, name): text.replace(_P, name).encode("utf-8") for rel, text in texts.items()
    }
    files["cicd.tar.gz"] = _cicd_tarball()
    files["docs/images/mlops-stacks-summary.png"] = _png(24, 16, (0xFF, 0x36, 0x21))
    files["docs/images/mlops-setup-flow.png"] = _png(16, 16, (0x1B, 0x31, 0x39))
    return dict(sorted(files.items()))


# --- binary and structured content -------------------------------------------------------------


def _json(obj: object) -> str:
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def _cicd_params() -> dict[str, str]:
    return {
        "input_cicd_platform": "github_actions",
        "input_cloud": "aws",
        "input_databricks_prod_workspace_host": PROD_HOST,
        "input_databricks_staging_workspace_host": STAGING_HOST,
        "input_default_branch": "main",
        "input_release_branch": "release",
        "input_setup_cicd_and_project": "CICD_and_Project",
    }


def _project_params(name: str) -> dict[str, str]:
    return {
        "input_cloud": "aws",
        "input_include_feature_store": "no",
        "input_include_models_in_unity_catalog": "yes",
        "input_inference_table_name": f"{name}.feature_store_inference_input",
        "input_prod_catalog_name": "prod",
        "input_project_name": name,
        "input_read_user_group": "users",
        "input_root_dir": name,
        "input_schema_name": name,
        "input_staging_catalog_name": "staging",
        "input_test_catalog_name": "test",
    }


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A tiny valid RGB PNG: a diagonal band of `rgb` on white."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            rows.extend(rgb if abs(x - y) < 4 else (0xFF, 0xFF, 0xFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def _cicd_tarball() -> bytes:
    """The CI/CD bundle template `deploy-cicd.yml` unpacks: a reproducible .tar.gz."""
    import gzip
    import io
    import tarfile

    workflows = "templates/template/.github/workflows"
    placeholder = "{{ .input_project_name }}"
    ci, _staging, _prod, tests = _project_workflow_texts()
    members = {
        "templates/databricks_template_schema.json": _json(_TEMPLATE_SCHEMA),
        f"{workflows}/{{{{.input_project_name}}}}-bundle-ci.yml.tmpl": ci,
        f"{workflows}/{{{{.input_project_name}}}}-run-tests.yml.tmpl": tests,
    }
    dirs = sorted({p.rsplit("/", i)[0] for p in members for i in range(1, p.count("/") + 1)})
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for entry in sorted([*dirs, *members]):
            info = tarfile.TarInfo(entry)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if entry in members:
                # Go templates: GitHub's own ${{ ... }} expressions are quoted as {{`...`}}.
                text = re.sub(r"\$\{\{.*?\}\}", lambda m: "{{`" + m[0] + "`}}", members[entry])
                data = text.replace(_P, placeholder).encode("utf-8")
                info.size = len(data)
                info.mode = FILE_MODE
                tar.addfile(info, io.BytesIO(data))
            else:
                info.type = tarfile.DIRTYPE
                info.mode = DIR_MODE
                tar.addfile(info)
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


_TEMPLATE_SCHEMA = {
    "properties": {
        "input_cloud": {"type": "string", "default": "aws", "order": 1},
        "input_project_name": {"type": "string", "default": DEFAULT_PROJECT_NAME, "order": 2},
        "input_default_branch": {"type": "string", "default": "main", "order": 3},
        "input_release_branch": {"type": "string", "default": "release", "order": 4},
    },
    "welcome_message": "Rendering the CI/CD workflows for an MLOps Stacks project.",
}


# --- workflows ----------------------------------------------------------------------------------


def _token_env(which: str, indent: str = "") -> str:
    secret = f"${{{{ secrets.{which}_WORKSPACE_TOKEN }}}}"
    return f"{indent}env:\n{indent}  DATABRICKS_TOKEN: {secret}\n"


def _project_workflow_texts() -> tuple[str, str, str, str]:
    """bundle-ci, bundle-cd-staging, bundle-cd-prod, run-tests (with the `@P@` placeholder)."""
    staging_env = _token_env("STAGING")
    prod_env = _token_env("PROD")
    ci = _BUNDLE_CI.replace("@STAGING_ENV@", _token_env("STAGING", "    ")).replace(
        "@PROD_ENV@", _token_env("PROD", "    ")
    )
    cd_staging = _BUNDLE_CD.format(
        env_name="Staging", target="staging", branches="      - 'main'\n      - 'master'\n"
    ).replace("@ENV@", staging_env)
    cd_prod = _BUNDLE_CD.format(
        env_name="Prod", target="prod", branches="      - 'release'\n"
    ).replace("@ENV@", prod_env)
    tests = _RUN_TESTS.replace("@ENV@", staging_env)
    return ci, cd_staging, cd_prod, tests


_DEPLOY_CICD = f"""\
# Sets up the CI/CD workflows of an MLOps Stacks project that already exists in this repo.
name: Deploy CICD for Project Workflow

on:
  workflow_dispatch:
    inputs:
      project_name:
        description: 'Project Name'
        required: true
        default: {_P}

env:
  DATABRICKS_HOST: {STAGING_HOST}
  DATABRICKS_TOKEN: ${{{{ secrets.STAGING_WORKSPACE_TOKEN }}}}

jobs:
  cicd:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{{{ github.sha }}}}
          token: ${{{{ secrets.WORKFLOW_TOKEN }}}}
      - uses: databricks/setup-cli@{CLI_VERSION}
      - name: Unpack the CI/CD template and merge the project parameters
        run: |
          tar -xzf cicd.tar.gz
          PROJECT_DIR=$(echo "${{{{ inputs.project_name }}}}" | tr ' -' '__')
          jq -s '.[0] + .[1] + {{"input_project_name": "${{{{ inputs.project_name }}}}"}}' \\
            cicd_params.json "$PROJECT_DIR/project_params.json" > /tmp/cicd_params.json
          echo "PROJECT_DIR=$PROJECT_DIR" >> "$GITHUB_ENV"
      - name: Render the project workflows
        run: |
          databricks bundle init ./templates --config-file /tmp/cicd_params.json
      - name: Commit and push a new branch
        run: |
          BRANCH="add-cicd-for-${{{{ inputs.project_name }}}}-$(date +%s)"
          echo "BRANCH=$BRANCH" >> "$GITHUB_ENV"
          git config --global user.name "Deploy CICD Bot"
          git config --global user.email "noreply-cicd-bot@databricks.com"
          git checkout -b "$BRANCH"
          git add .github "$PROJECT_DIR/databricks.yml"
          git commit -m "Add CICD for ${{{{ inputs.project_name }}}}"
          git push origin "$BRANCH"
      - name: Create Pull Request
        env:
          GH_TOKEN: ${{{{ secrets.GITHUB_TOKEN }}}}
        run: |
          gh pr create --base main --head "$BRANCH" \\
            --title "Deploy CICD for ${{{{ inputs.project_name }}}}" \\
            --body "This PR was generated by the Deploy CICD workflow."
"""

_LINT_WORKFLOWS = """\
name: Lint CI/CD workflow files
on:
  pull_request:
    paths:
      - '.github/workflows/**'
  workflow_dispatch:

jobs:
  actionlint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Download actionlint
        id: get_actionlint
        shell: bash
        run: |
          bash <(curl -sSfL https://raw.githubusercontent.com/rhysd/actionlint/main/scripts/download-actionlint.bash)
      - name: Check workflow files
        shell: bash
        run: ${{ steps.get_actionlint.outputs.executable }} -color
"""

_BUNDLE_CI = f"""\
# Validates the bundle for the staging and prod targets on every pull request that touches it.
name: Bundle validation for {_P}

on:
  workflow_dispatch:
  pull_request:
    paths:
      - '{_P}/**'

defaults:
  run:
    working-directory: ./{_P}/

jobs:
  staging:
    concurrency: {_P}-staging-bundle-job
    runs-on: ubuntu-latest
    @STAGING_ENV@
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{{{ github.event.pull_request.head.sha || github.sha }}}}
      - uses: databricks/setup-cli@{CLI_VERSION}
      - name: Validate Bundle For Staging
        id: validate
        run: |
          databricks bundle validate -t staging

  prod:
    concurrency: {_P}-prod-bundle-job
    runs-on: ubuntu-latest
    @PROD_ENV@
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{{{ github.event.pull_request.head.sha || github.sha }}}}
      - uses: databricks/setup-cli@{CLI_VERSION}
      - name: Validate Bundle For Prod
        id: validate
        run: |
          databricks bundle validate -t prod
""".replace("    @STAGING_ENV@\n", "@STAGING_ENV@").replace("    @PROD_ENV@\n", "@PROD_ENV@")

_BUNDLE_CD = f"""\
# Deploys the {_P} bundle to the {{target}} target when the branch below moves.
name: Bundle Deployment for {_P} {{env_name}}

on:
  push:
    branches:
{{branches}}    paths:
      - '{_P}/**'
  workflow_dispatch:

defaults:
  run:
    working-directory: ./{_P}

@ENV@
jobs:
  {{target}}:
    concurrency: {_P}-{{target}}-bundle-job
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: databricks/setup-cli@{CLI_VERSION}
      - name: Validate Bundle For {{env_name}}
        id: validate
        run: |
          databricks bundle validate -t {{target}}
      - name: Deploy Bundle to {{env_name}}
        id: deploy
        run: |
          databricks bundle deploy -t {{target}}
"""

_RUN_TESTS = f"""\
name: ML Code Tests for {_P}
on:
  workflow_dispatch:
  pull_request:
    paths:
      - '{_P}/**'
      - '.github/workflows/{_P}-run-tests.yml'

defaults:
  run:
    working-directory: ./{_P}/

@ENV@
concurrency: {_P}-training-integration-test-staging

jobs:
  unit_tests:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: '3.10'
      - name: Install dependencies
        run: |
          python -m pip install --upgrade pip
          pip install -r requirements.txt
          pip install -r ../test-requirements.txt
      - name: Run tests with pytest
        run: |
          pytest

  integration_test:
    needs: unit_tests
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: databricks/setup-cli@{CLI_VERSION}
      - name: Validate Bundle For Test Deployment Target in Staging Workspace
        id: validate
        run: |
          databricks bundle validate -t test
      - name: Deploy Bundle to Test Deployment Target in Staging Workspace
        id: deploy
        run: |
          databricks bundle deploy -t test
      - name: Run Training Workflow for Test Deployment Target in Staging Workspace
        id: training
        run: |
          databricks bundle run model_training_job -t test
"""

_WORKFLOWS_README = f"""\
# CI/CD Workflow Definitions
This directory holds the [GitHub Actions](https://docs.github.com/en/actions) workflows that
test and deploy the ML code and the Databricks resources of each project in this repo.

* `deploy-cicd.yml` (run by hand) renders the CI/CD workflows of a project from `cicd.tar.gz`
  and opens a pull request that adds them.
* `lint-cicd-workflow-files.yml` lints the workflow files with actionlint.
* `<project>-bundle-ci.yml`, `<project>-bundle-cd-staging.yml`, `<project>-bundle-cd-prod.yml`
  and `<project>-run-tests.yml` validate, deploy and test a single project.

See [the MLOps setup guide](../../docs/mlops-setup.md) and
[the resources README](../../{_P}/resources/README.md) to set up CI/CD.
"""

# --- root files and docs ------------------------------------------------------------------------

_GITIGNORE = """\
# Byte-compiled / optimized files
__pycache__/
*.py[cod]
*$py.class

# Distribution / packaging
build/
dist/
*.egg-info/
.eggs/

# Virtual environments and tooling
.venv/
venv/
.env
.idea/
.vscode/
.pytest_cache/
.coverage
htmlcov/
.ipynb_checkpoints/
.DS_Store

# Databricks
.databricks/
"""

_ROOT_README = f"""\
# {_P}

This repo was generated with [MLOps Stacks](https://github.com/databricks/mlops-stacks): ML code
for **{_P}**, its Databricks resources as a bundle, and CI/CD with GitHub Actions.

## Code structure
```
{_P}/                   <- Root of the bundle: ML code and resource configs
  databricks.yml        <- Bundle config: variables and deployment targets
  training/             <- Model training notebook
  validation/           <- Model validation notebook and thresholds
  deployment/           <- Model deployment and batch inference
  monitoring/           <- Model monitoring (optional)
  tests/                <- Unit tests for the ML code
  resources/            <- Jobs, registered model and experiment definitions
.github/workflows/      <- CI/CD workflows
docs/                   <- Setup guide and contributor docs
cicd.tar.gz             <- Template that deploy-cicd.yml renders into per-project workflows
```

## Getting started
* Data scientists: see [{_P}/README.md]({_P}/README.md).
* MLOps engineers: follow [docs/mlops-setup.md](docs/mlops-setup.md) to set up CI/CD.
* Contributors: see [docs/ml-pull-request.md](docs/ml-pull-request.md).
"""

_DOCS_SETUP = f"""\
# MLOps Setup Guide

This guide takes an ops engineer from a freshly generated project to production jobs.

![MLOps setup flow](images/mlops-setup-flow.png)

## Create a hosted Git repo
Create an empty repository on GitHub (for example `{_P}`) and push the generated code to its
default branch. Do not initialise it with a README: the project already has one.

## Configure CI/CD - GitHub Actions

### Prerequisites
* You can create repositories and secrets in the GitHub organisation.
* You are an admin of the staging and prod Databricks workspaces, or can ask one.
* The `staging`, `prod` and `test` Unity Catalog catalogs exist, each with a `{_P}` schema.

### Set up Service Principal
Create one service principal per environment: one for staging and one for prod. CI/CD uses
them, not personal accounts, to validate and deploy the bundle.

### Configure Service Principal (SP) permissions
Add each service principal to its workspace. Grant it `USE_CATALOG` on the catalog and
`USE_SCHEMA`, `CREATE_MODEL`, `CREATE_TABLE`, `MODIFY` and `SELECT` on the project schema,
plus read access to the batch inference input table.

### Set secrets for CI/CD
Create a Databricks token for each service principal and store the values as repository
secrets `STAGING_WORKSPACE_TOKEN` and `PROD_WORKSPACE_TOKEN`. Also add `WORKFLOW_TOKEN`, a
GitHub personal access token with the `workflow` scope, so generated branches can add workflows.

### Setting up CI/CD workflows
Allow GitHub Actions to create pull requests (repository settings, Actions, workflow
permissions). Then run the `deploy-cicd.yml` workflow with `project_name` set to `{_P}`.
It pushes a branch with the per-project workflows and opens a pull request: review and merge it.

## Merge a PR with your initial ML code
Open a pull request with the ML code on a feature branch. The bundle CI validates it for staging
and prod and the test workflow runs unit tests and a training run on the `test` target.
Merging to the default branch deploys the bundle to staging.

## Create release branch
Create a `release` branch from the default branch and push it. Every push to `release`
deploys the bundle to the prod workspace.

## Deploy ML resources and enable production jobs
After the first deployment, the training and batch inference jobs run on their schedules
(09:00 and 11:00 UTC). Make sure the inference input table exists and that the service
principal can read it, then check the first runs in the prod workspace.

## Next steps
* Adjust schedules, clusters and permissions in `{_P}/resources/`.
* Enable model monitoring in `{_P}/resources/monitoring-resource.yml`.
* Read [ml-pull-request.md](ml-pull-request.md) for the day-to-day development loop.
"""

_DOCS_PR = f"""\
# Updating ML code in production

![MLOps Stacks summary](images/mlops-stacks-summary.png)

## Develop on a feature branch
1. Create a branch from `main` and change the code under `{_P}/`.
2. Run the unit tests locally: `cd {_P} && pytest`.
3. Deploy to your own dev target to try the change: `databricks bundle deploy -t dev`.

## Open a pull request
The pull request runs two workflows:
* `{_P}-bundle-ci.yml` validates the bundle for staging and prod.
* `{_P}-run-tests.yml` runs the unit tests, deploys to the `test` target and runs the
  training job there.

## Merge and release
Merging to `main` deploys to staging. When staging looks good, merge `main` into `release` to
deploy to prod.
"""

# --- the bundle ---------------------------------------------------------------------------------

_DATABRICKS_YML = f"""\
# The name of the bundle. Run `databricks bundle schema` to see the full settings schema.
bundle:
  name: {_P}

variables:
  experiment_name:
    description: Experiment name for the model training.
    default: /Users/${{workspace.current_user.userName}}/${{bundle.target}}-{_P}-experiment
  model_name:
    description: Model name for the model training.
    default: {_P}-model
  catalog_name:
    description: The catalog the trained model is registered in.

include:
  # Resources: the registered model and experiment, and the jobs for training -> validation ->
  # deployment and batch inference. Monitoring is opt-in.
  - ./resources/batch-inference-workflow-resource.yml
  - ./resources/ml-artifacts-resource.yml
  - ./resources/model-workflow-resource.yml
  # - ./resources/monitoring-resource.yml

# Deployment targets.
# <env>-{_P}-model-training-job, <env>-{_P}-batch-inference-job and friends are
# created in the workspace of each target.
targets:
  dev:
    default: true
    mode: development
    variables:
      catalog_name: dev
    workspace:
      host: {DEV_HOST}

  staging:
    variables:
      catalog_name: staging
    workspace:
      host: {STAGING_HOST}

  prod:
    variables:
      catalog_name: prod
    workspace:
      host: {PROD_HOST}

  test:
    variables:
      catalog_name: test
    workspace:
      host: {STAGING_HOST}
"""

_PYTEST_INI = """\
# Let pytest import the project's modules from this directory.
[pytest]
pythonpath = .
"""

_REQUIREMENTS = """\
mlflow==2.11.3
numpy>=1.23.0
pandas==1.5.3
scikit-learn>=1.1.1
matplotlib>=3.5.2
pillow>=10.0.1
Jinja2==3.0.3
pyspark~=3.3.0
pytz~=2022.2.1
protobuf>=3.20.1
"""

_PROJECT_README = f"""\
# {_P}

The ML code and Databricks resources of the `{_P}` project.

* `training/notebooks/Train.py` trains a model and registers it in Unity Catalog as
  `<catalog>.{_P}.{_P}-model`.
* `validation/` checks a newly trained model against thresholds before it is deployed.
* `deployment/model_deployment/` promotes a validated model by giving it the `champion` alias.
* `deployment/batch_inference/` scores a table with the `champion` model.
* `resources/` defines the jobs, the registered model and the experiment.

## Running locally
```
pip install -r requirements.txt -r ../test-requirements.txt
pytest
databricks bundle validate -t dev
databricks bundle deploy -t dev
```
"""

_NOTEBOOK_HEAD = "# Databricks notebook source\n"
_CELL = "\n# COMMAND ----------\n\n"

_TRAIN_NOTEBOOK = (
    _NOTEBOOK_HEAD
    + """\
##################################################################################
# Model Training Notebook
#
# Trains a model on the NYC taxi sample and registers it in Unity Catalog. Run by the
# model training job in resources/model-workflow-resource.yml.
#
# Parameters:
# * env                - deployment target the notebook runs for (dev, staging, prod, test)
# * training_data_path - path of the training data
# * experiment_name    - MLflow experiment that receives the run
# * model_name         - three-level name <catalog>.<schema>.<model> to register under
##################################################################################
"""
    + _CELL
    + """\
# MAGIC %pip install -r ../../requirements.txt
"""
    + _CELL
    + f"""\
dbutils.widgets.dropdown("env", "dev", ["dev", "staging", "prod", "test"], "Environment Name")
dbutils.widgets.text(
    "training_data_path", "/databricks-datasets/nyctaxi-with-zipcodes/subsampled", "Data"
)
dbutils.widgets.text("experiment_name", "/dev-{_P}-experiment", "MLflow experiment name")
dbutils.widgets.text("model_name", "dev.{_P}.{_P}-model", "Full (three-level) model name")
"""
    + _CELL
    + """\
import mlflow
from sklearn.ensemble import RandomForestRegressor

mlflow.set_registry_uri("databricks-uc")
mlflow.set_experiment(dbutils.widgets.get("experiment_name"))
model_name = dbutils.widgets.get("model_name")

data = spark.read.format("delta").load(dbutils.widgets.get("training_data_path")).toPandas()
X = data.drop(columns=["fare_amount"]).select_dtypes("number")
y = data["fare_amount"]
"""
    + _CELL
    + """\
mlflow.sklearn.autolog(log_input_examples=True, silent=True)
with mlflow.start_run() as run:
    model = RandomForestRegressor(n_estimators=50, max_depth=8).fit(X, y)
    model_info = mlflow.sklearn.log_model(model, "model", input_example=X.head(5))

model_version = mlflow.register_model(model_info.model_uri, model_name).version
dbutils.jobs.taskValues.set("model_uri", f"models:/{model_name}/{model_version}")
dbutils.jobs.taskValues.set("model_name", model_name)
dbutils.jobs.taskValues.set("model_version", model_version)
dbutils.notebook.exit(f"models:/{model_name}/{model_version}")
"""
)

_VALIDATION_NOTEBOOK = (
    _NOTEBOOK_HEAD
    + """\
##################################################################################
# Model Validation Notebook
#
# Evaluates the model trained in the previous task and gives it the "challenger" alias when it
# meets the thresholds in validation/validation.py.
##################################################################################
"""
    + _CELL
    + """\
import sys

sys.path.append("..")

import mlflow
from mlflow.tracking import MlflowClient
from validation import custom_metrics, validation_thresholds

mlflow.set_registry_uri("databricks-uc")
model_uri = dbutils.jobs.taskValues.get("Train", "model_uri", debugValue="")
model_name = dbutils.jobs.taskValues.get("Train", "model_name", debugValue="")
model_version = dbutils.jobs.taskValues.get("Train", "model_version", debugValue="")
"""
    + _CELL
    + """\
data = spark.table("samples.nyctaxi.trips").limit(1000).toPandas()
result = mlflow.evaluate(
    model_uri,
    data.select_dtypes("number"),
    targets="fare_amount",
    model_type="regressor",
    extra_metrics=custom_metrics(),
    validation_thresholds=validation_thresholds(),
)
MlflowClient().set_registered_model_alias(model_name, "challenger", model_version)
"""
)

_VALIDATION_PY = '''\
"""Thresholds and custom metrics used by notebooks/ModelValidation.py."""


def custom_metrics():
    """Extra metrics computed during validation (none by default)."""
    return []


def validation_thresholds():
    """The values a new model must reach before it can be deployed."""
    from mlflow.models import MetricThreshold

    return {
        "max_error": MetricThreshold(threshold=500, higher_is_better=False),
        "mean_squared_error": MetricThreshold(threshold=20, higher_is_better=False),
    }
'''

_VALIDATION_README = """\
# Model validation
`notebooks/ModelValidation.py` runs after training. It evaluates the new model version and
compares it with the thresholds in `validation.py`; a model that passes gets the
`challenger` alias and moves on to deployment.
"""

_DEPLOY_PY = '''\
"""Promote a validated model version in Unity Catalog by giving it the "champion" alias."""


def parse_model_uri(model_uri):
    """Split "models:/<catalog>.<schema>.<model>/<version>" into (name, version)."""
    scheme, _, rest = model_uri.partition(":/")
    name, _, version = rest.rpartition("/")
    if scheme != "models" or name.count(".") != 2 or not version.isdigit():
        raise ValueError(f"not a Unity Catalog model version URI: {model_uri!r}")
    return name, version


def deploy(model_uri, env):
    """Assign the "champion" alias to the model version and drop "challenger" from it."""
    from mlflow.tracking import MlflowClient

    name, version = parse_model_uri(model_uri)
    client = MlflowClient(registry_uri="databricks-uc")
    aliases = client.get_model_version(name, version).aliases
    if "champion" not in aliases:
        client.set_registered_model_alias(name=name, alias="champion", version=version)
        print(f"[{env}] assigned alias 'champion' to {model_uri}")
    if "challenger" in aliases:
        client.delete_registered_model_alias(name=name, alias="challenger")
'''

_DEPLOY_NOTEBOOK = (
    _NOTEBOOK_HEAD
    + """\
##################################################################################
# Model Deployment Notebook
#
# Promotes the model version validated in the previous task.
##################################################################################
"""
    + _CELL
    + """\
import sys

sys.path.append("..")

from deploy import deploy

dbutils.widgets.dropdown("env", "dev", ["dev", "staging", "prod", "test"], "Environment Name")
model_uri = dbutils.jobs.taskValues.get("Train", "model_uri", debugValue="")
deploy(model_uri, dbutils.widgets.get("env"))
"""
)

_BATCH_README = """\
# Batch inference
`notebooks/BatchInference.py` loads the `champion` version of the model, scores
`input_table_name` and writes the predictions to `output_table_name`. The job in
`resources/batch-inference-workflow-resource.yml` runs it daily. The input table and the
service principal's read grant on it must be created by you.
"""

_PREDICT_PY = '''\
"""Score a table with a registered model and save the predictions as a Delta table."""


def predict_batch(spark_session, model_uri, input_table_name, output_table_name, version, ts):
    """Apply the model at `model_uri` to `input_table_name` and write `output_table_name`."""
    import mlflow
    from pyspark.sql.functions import lit, struct, to_timestamp

    table = spark_session.table(input_table_name)
    predict = mlflow.pyfunc.spark_udf(spark_session, model_uri, result_type="double")
    output_df = (
        table.withColumn("prediction", predict(struct(*table.columns)))
        .withColumn("model_version", lit(version))
        .withColumn("inference_timestamp", to_timestamp(lit(ts)))
    )
    output_df.write.format("delta").mode("overwrite").saveAsTable(output_table_name)
'''

_BATCH_NOTEBOOK = (
    _NOTEBOOK_HEAD
    + """\
##################################################################################
# Batch Inference Notebook
#
# Parameters:
# * env               - deployment target the notebook runs for
# * input_table_name  - table to score
# * output_table_name - Delta table the predictions are written to
# * model_name        - three-level name of the registered model
##################################################################################
"""
    + _CELL
    + """\
import datetime
import sys

sys.path.append("..")

from mlflow import MlflowClient
from predict import predict_batch

dbutils.widgets.dropdown("env", "dev", ["dev", "staging", "prod", "test"], "Environment Name")
dbutils.widgets.text("input_table_name", "", label="Input Table Name")
dbutils.widgets.text("output_table_name", "", label="Output Table Name")
dbutils.widgets.text("model_name", "", label="Model Name")
"""
    + _CELL
    + """\
model_name = dbutils.widgets.get("model_name")
version = MlflowClient(registry_uri="databricks-uc").get_model_version_by_alias(
    model_name, "champion"
).version
ts = datetime.datetime.now(datetime.timezone.utc).isoformat()
predict_batch(
    spark,
    f"models:/{model_name}@champion",
    dbutils.widgets.get("input_table_name"),
    dbutils.widgets.get("output_table_name"),
    version,
    ts,
)
"""
)

_MONITORING_README = """\
# Monitoring
Model monitoring is opt-in. Once the batch inference job writes predictions, uncomment
`resources/monitoring-resource.yml` and its include in `databricks.yml` to create a Lakehouse
Monitoring inference-log monitor on the predictions table and a job that retrains on drift.
"""

_RESOURCES_README = f"""\
# Databricks ML resource configurations
The YAML files here define the Databricks resources of `{_P}` as part of the bundle in
`../databricks.yml`:

* `ml-artifacts-resource.yml` - the registered model and the MLflow experiment.
* `model-workflow-resource.yml` - the training -> validation -> deployment job.
* `batch-inference-workflow-resource.yml` - the batch inference job.
* `monitoring-resource.yml` - the (commented out) model monitor.

## Deploy
```
databricks bundle validate -t <target>
databricks bundle deploy -t <target>
databricks bundle run model_training_job -t <target>
```
In CI/CD, `{_P}-bundle-cd-staging.yml` deploys the `staging` target and
`{_P}-bundle-cd-prod.yml` deploys the `prod` target. Both jobs run on a schedule once
deployed: edit or pause the schedules below if that is not what you want.
"""

_NEW_CLUSTER = """\
new_cluster: &new_cluster
  new_cluster:
    num_workers: 3
    spark_version: 15.3.x-cpu-ml-scala2.12
    node_type_id: i3.xlarge
    custom_tags:
      clusterSource: mlops-stacks_0.4

common_permissions: &permissions
  permissions:
    - level: CAN_VIEW
      group_name: users
"""

_MODEL_RESOURCE = (
    _NEW_CLUSTER
    + f"""\

resources:
  jobs:
    model_training_job:
      name: ${{bundle.target}}-{_P}-model-training-job
      job_clusters:
        - job_cluster_key: model_training_job_cluster
          <<: *new_cluster
      tasks:
        - task_key: Train
          job_cluster_key: model_training_job_cluster
          notebook_task:
            notebook_path: ../training/notebooks/Train.py
            base_parameters:
              env: ${{bundle.target}}
              training_data_path: /databricks-datasets/nyctaxi-with-zipcodes/subsampled
              experiment_name: ${{var.experiment_name}}
              model_name: ${{var.catalog_name}}.{_P}.${{var.model_name}}
              # git source information of current ML resource deployment
              git_source_info: url:${{bundle.git.origin_url}}; branch:${{bundle.git.branch}}
        - task_key: ModelValidation
          job_cluster_key: model_training_job_cluster
          depends_on:
            - task_key: Train
          notebook_task:
            notebook_path: ../validation/notebooks/ModelValidation.py
            base_parameters:
              env: ${{bundle.target}}
              experiment_name: ${{var.experiment_name}}
        - task_key: ModelDeployment
          job_cluster_key: model_training_job_cluster
          depends_on:
            - task_key: ModelValidation
          notebook_task:
            notebook_path: ../deployment/model_deployment/notebooks/ModelDeployment.py
            base_parameters:
              env: ${{bundle.target}}
      schedule:
        quartz_cron_expression: "0 0 9 * * ?" # daily at 9am
        timezone_id: UTC
      <<: *permissions
      # If you want to turn on notifications for this job, please uncomment the below code,
      # and provide a list of emails to the on_failure argument.
      #
      #  email_notifications:
      #    on_failure:
      #      - first@company.com
"""
)

_BATCH_RESOURCE = (
    _NEW_CLUSTER
    + f"""\

resources:
  jobs:
    batch_inference_job:
      name: ${{bundle.target}}-{_P}-batch-inference-job
      tasks:
        - task_key: batch_inference_job
          <<: *new_cluster
          notebook_task:
            notebook_path: ../deployment/batch_inference/notebooks/BatchInference.py
            base_parameters:
              env: ${{bundle.target}}
              input_table_name: ${{var.catalog_name}}.{_P}.feature_store_inference_input
              output_table_name: ${{var.catalog_name}}.{_P}.predictions
              model_name: ${{var.catalog_name}}.{_P}.${{var.model_name}}
              # git source information of current ML resource deployment
              git_source_info: url:${{bundle.git.origin_url}}; branch:${{bundle.git.branch}}
      schedule:
        quartz_cron_expression: "0 0 11 * * ?" # daily at 11am
        timezone_id: UTC
      <<: *permissions
"""
)

_ARTIFACTS_RESOURCE = f"""\
# Allow users to read the experiment
common_permissions: &permissions
  permissions:
    - level: CAN_READ
      group_name: users

# Allow users to execute models in Unity Catalog
grants: &grants
  grants:
    - privileges:
        - EXECUTE
      principal: account users

# The registered model ${{var.catalog_name}}.{_P}.{_P}-model and its experiment
resources:
  registered_models:
    model:
      name: ${{var.model_name}}
      catalog_name: ${{var.catalog_name}}
      schema_name: {_P}
      comment: Registered model in Unity Catalog for the "{_P}" ML Project for ${{bundle.target}}.
      <<: *grants

  experiments:
    experiment:
      name: ${{var.experiment_name}}
      <<: *permissions
      description: MLflow Experiment used to track runs for {_P} project.
"""

_MONITORING_RESOURCE = f"""\
# Model monitoring is opt-in: uncomment this file and its include in databricks.yml once the
# batch inference job has written the predictions table.
#
# resources:
#   quality_monitors:
#     {_P}_quality_monitor:
#       table_name: ${{var.catalog_name}}.{_P}.predictions
#       output_schema_name: ${{var.catalog_name}}.{_P}
#       assets_dir: /Workspace/Users/${{workspace.current_user.userName}}/monitoring/{_P}
#       inference_log:
#         granularities: [1 day]
#         model_id_col: model_version
#         prediction_col: prediction
#         timestamp_col: inference_timestamp
#         problem_type: PROBLEM_TYPE_REGRESSION
#       schedule:
#         quartz_cron_expression: "0 0 12 * * ?" # daily at noon
#         timezone_id: UTC
"""

_TEST_NOTEBOOKS = """\
import pathlib

import pytest

PROJECT_DIR = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "notebook",
    [
        "training/notebooks/Train.py",
        "validation/notebooks/ModelValidation.py",
        "deployment/model_deployment/notebooks/ModelDeployment.py",
        "deployment/batch_inference/notebooks/BatchInference.py",
    ],
)
def test_notebook_is_databricks_source(notebook):
    text = (PROJECT_DIR / notebook).read_text()
    assert text.startswith("# Databricks notebook source")
"""

_TEST_DEPLOY = """\
import pytest

from deployment.model_deployment.deploy import parse_model_uri


def test_parse_model_uri():
    uri = "models:/prod.schema.model/3"
    assert parse_model_uri(uri) == ("prod.schema.model", "3")


@pytest.mark.parametrize("uri", ["models:/model/3", "runs:/abc/model", "models:/a.b.c/latest"])
def test_parse_model_uri_rejects(uri):
    with pytest.raises(ValueError):
        parse_model_uri(uri)
"""
