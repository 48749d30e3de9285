"""The offline example project: layout, determinism and the content other code relies on."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from mlops_setup.example import (
    DEFAULT_PROJECT_NAME,
    FIXED_MTIME,
    PROJECT_WORKFLOWS,
    write_example_project,
)

P = DEFAULT_PROJECT_NAME

ROOT_FILES = [
    ".github/workflows/README.md",
    ".github/workflows/deploy-cicd.yml",
    ".github/workflows/lint-cicd-workflow-files.yml",
    ".gitignore",
    "README.md",
    "cicd.tar.gz",
    "cicd_params.json",
    "test-requirements.txt",
    "docs/mlops-setup.md",
    "docs/ml-pull-request.md",
]

PROJECT_FILES = [
    "README.md",
    "__init__.py",
    "databricks.yml",
    "project_params.json",
    "pytest.ini",
    "requirements.txt",
    "deployment/batch_inference/README.md",
    "deployment/batch_inference/predict.py",
    "deployment/batch_inference/notebooks/BatchInference.py",
    "deployment/model_deployment/deploy.py",
    "deployment/model_deployment/notebooks/ModelDeployment.py",
    "monitoring/README.md",
    "resources/README.md",
    "resources/batch-inference-workflow-resource.yml",
    "resources/ml-artifacts-resource.yml",
    "resources/model-workflow-resource.yml",
    "resources/monitoring-resource.yml",
    "training/notebooks/Train.py",
]


def files_of(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for rel in sorted(files_of(root)):
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return h.hexdigest()


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_example_project(tmp_path / "repo")


def test_layout_matches_a_generated_project(project: Path) -> None:
    files = files_of(project)
    for rel in [*ROOT_FILES, *PROJECT_WORKFLOWS(P), *(f"{P}/{f}" for f in PROJECT_FILES)]:
        assert rel in files, rel
    assert [f for f in files if f.startswith("docs/images/") and f.endswith(".png")]
    assert [f for f in files if f.startswith(f"{P}/tests/") and f.endswith(".py")]
    assert [f for f in files if f.startswith(f"{P}/validation/")]


def test_project_workflows_paths() -> None:
    assert PROJECT_WORKFLOWS("demo") == [
        ".github/workflows/demo-bundle-ci.yml",
        ".github/workflows/demo-bundle-cd-staging.yml",
        ".github/workflows/demo-bundle-cd-prod.yml",
        ".github/workflows/demo-run-tests.yml",
    ]


def test_two_generations_are_byte_identical(tmp_path: Path) -> None:
    a = write_example_project(tmp_path / "a")
    b = write_example_project(tmp_path / "b")
    assert tree_digest(a) == tree_digest(b)
    for path in [a, *a.rglob("*")]:
        st = path.stat()
        assert st.st_mtime == FIXED_MTIME, path
        assert (st.st_mode & 0o777) == (0o755 if path.is_dir() else 0o644), path


def test_with_cicd_adds_exactly_the_project_workflows(tmp_path: Path) -> None:
    without = write_example_project(tmp_path / "without", with_cicd=False)
    with_ = write_example_project(tmp_path / "with", with_cicd=True)
    assert files_of(with_) - files_of(without) == set(PROJECT_WORKFLOWS(P))
    assert files_of(without) <= files_of(with_)
    for rel in files_of(without):
        assert (without / rel).read_bytes() == (with_ / rel).read_bytes(), rel


def test_custom_project_name(tmp_path: Path) -> None:
    root = write_example_project(tmp_path / "r", "churn_model")
    files = files_of(root)
    assert set(PROJECT_WORKFLOWS("churn_model")) <= files
    assert "churn_model/databricks.yml" in files
    assert not [f for f in files if P in f]
    assert P not in (root / "churn_model/databricks.yml").read_text()


def test_databricks_yml_targets(project: Path) -> None:
    bundle = load_yaml(project / P / "databricks.yml")
    assert bundle["bundle"]["name"] == P
    assert bundle["variables"]["model_name"]["default"] == f"{P}-model"
    assert {"experiment_name", "catalog_name"} <= set(bundle["variables"])
    targets = bundle["targets"]
    assert set(targets) == {"dev", "staging", "prod", "test"}
    for name, target in targets.items():
        assert target["variables"]["catalog_name"] == name
    assert targets["dev"]["default"] is True
    assert targets["dev"]["mode"] == "development"
    assert targets["test"]["workspace"]["host"] == targets["staging"]["workspace"]["host"]
    assert targets["prod"]["workspace"]["host"] == "https://prod.cloud.databricks.com"
    for include in bundle["include"]:
        assert (project / P / include).is_file()


def test_resource_jobs_and_model(project: Path) -> None:
    resources = project / P / "resources"
    training = load_yaml(resources / "model-workflow-resource.yml")["resources"]["jobs"]
    job = training["model_training_job"]
    assert job["name"] == f"${{bundle.target}}-{P}-model-training-job"
    assert job["schedule"] == {"quartz_cron_expression": "0 0 9 * * ?", "timezone_id": "UTC"}
    assert job["permissions"]  # the YAML merge key resolved
    for task in job["tasks"]:
        assert (resources / task["notebook_task"]["notebook_path"]).is_file()

    inference = load_yaml(resources / "batch-inference-workflow-resource.yml")["resources"]
    job = inference["jobs"]["batch_inference_job"]
    assert job["name"] == f"${{bundle.target}}-{P}-batch-inference-job"
    assert job["schedule"]["quartz_cron_expression"] == "0 0 11 * * ?"
    params = job["tasks"][0]["notebook_task"]["base_parameters"]
    assert {"input_table_name", "output_table_name"} <= set(params)

    artifacts = load_yaml(resources / "ml-artifacts-resource.yml")["resources"]
    model = artifacts["registered_models"]["model"]
    assert (model["catalog_name"], model["schema_name"]) == ("${var.catalog_name}", P)
    assert "experiment" in artifacts["experiments"]


def test_workflows(project: Path) -> None:
    wf = project / ".github" / "workflows"
    deploy = load_yaml(wf / "deploy-cicd.yml")
    inputs = deploy[True]["workflow_dispatch"]["inputs"]  # YAML 1.1 reads `on` as True
    assert inputs["project_name"]["required"] is True
    deploy_text = (wf / "deploy-cicd.yml").read_text()
    assert "token: ${{ secrets.WORKFLOW_TOKEN }}" in deploy_text
    assert "GH_TOKEN: ${{ secrets.GITHUB_TOKEN }}" in deploy_text
    assert "add-cicd-for-${{ inputs.project_name }}-$(date +%s)" in deploy_text
    assert "gh pr create" in deploy_text
    assert "tar -xzf cicd.tar.gz" in deploy_text
    for rel in PROJECT_WORKFLOWS(P):
        assert "permissions" not in load_yaml(project / rel), rel

    ci = (project / PROJECT_WORKFLOWS(P)[0]).read_text()
    assert "databricks bundle validate -t staging" in ci
    assert "databricks bundle validate -t prod" in ci
    assert "secrets.PROD_WORKSPACE_TOKEN" in ci
    assert load_yaml(project / PROJECT_WORKFLOWS(P)[0])[True]["pull_request"]["paths"] == [
        f"{P}/**"
    ]
    staging = load_yaml(project / PROJECT_WORKFLOWS(P)[1])
    assert set(staging[True]["push"]["branches"]) == {"main", "master"}
    assert "bundle deploy -t staging" in (project / PROJECT_WORKFLOWS(P)[1]).read_text()
    prod = load_yaml(project / PROJECT_WORKFLOWS(P)[2])
    assert prod[True]["push"]["branches"] == ["release"]
    assert "bundle deploy -t prod" in (project / PROJECT_WORKFLOWS(P)[2]).read_text()
    tests = load_yaml(project / PROJECT_WORKFLOWS(P)[3])
    assert "pull_request" in tests[True]


def test_cicd_tarball_is_reproducible(project: Path) -> None:
    data = (project / "cicd.tar.gz").read_bytes()
    assert data[4:8] == b"\0\0\0\0"  # gzip header mtime
    with tarfile.open(project / "cicd.tar.gz") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names)
        assert all(n.startswith("templates") for n in names)
        assert all(m.mtime == 0 for m in members)
        regular = [m for m in members if m.isfile()]
        assert len(regular) >= 2
        assert "templates/databricks_template_schema.json" in names
    assert gzip.decompress(data)  # a whole gzip stream


def test_pngs_are_tiny_and_valid(project: Path) -> None:
    pngs = sorted((project / "docs" / "images").glob("*.png"))
    assert len(pngs) >= 2
    for png in pngs:
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert data.endswith(b"IEND\xaeB`\x82")
        assert len(data) < 1000


def test_setup_guide_sections(project: Path) -> None:
    text = (project / "docs" / "mlops-setup.md").read_text()
    assert 40 <= len(text.splitlines()) <= 80
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


def test_refuses_non_empty_dest(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        write_example_project(tmp_path)
    assert files_of(tmp_path) == {"keep.txt"}


def test_refuses_a_file_and_a_bad_name(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError):
        write_example_project(tmp_path / "f")
    with pytest.raises(ValueError):
        write_example_project(tmp_path / "x", "../escape")


def test_empty_existing_dest_is_fine(tmp_path: Path) -> None:
    assert write_example_project(tmp_path) == tmp_path
    assert (tmp_path / P / "databricks.yml").is_file()


@pytest.mark.slow
def test_generated_unit_tests_pass(project: Path) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
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
