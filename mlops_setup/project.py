"""The generated MLOps Stacks project, read: every fact a setup needs, with the file it came from.

`databricks bundle init mlops-stacks` writes most of what a setup needs into the tree it
generates; this module reads it instead of guessing. Where each fact lives (template v0.5; the
template's source is github.com/databricks/mlops-stacks, the facts are summarised in
``shared/FACTS.md`` of the steering repo):

* **CI platform**: ``.github/workflows/`` (GitHub Actions, what we set up), and which variant
  from ``input_cicd_platform`` of ``cicd_params.json`` (``github_actions``, or
  ``github_actions_for_github_enterprise_servers``: same workflows, for a GitHub Enterprise
  Server); ``.gitlab/`` and ``.azure/devops-pipelines/`` are recognised and refused.
* **Setup mode**: ``CICD_and_Project`` (a root with ``cicd_params.json`` and
  ``deploy-cicd.yml``, and project folders with their ``<raw>-*.yml`` workflows), ``CICD_Only``
  (the root without any project folder) or ``Project_Only`` (a project folder whose workflows
  ``deploy-cicd.yml`` has not generated yet; alone, or added to a ``CICD_Only`` root).
* **Names**: ``<raw>`` is ``bundle.name`` in ``<folder>/databricks.yml`` (the name as typed,
  may hold ``-``); ``<folder>`` is the folder holding it (the template drops characters other
  than letters, digits, ``_`` and ``-``, then turns ``-`` into ``_``). The raw name names the
  workflow files, jobs and deploy-cicd's ``project_name`` input; the folder names paths.
* **Cloud**: ``input_cloud`` of ``cicd_params.json`` and ``<folder>/project_params.json``
  (deploy-cicd fails when they differ), else the workflows' auth variables.
* **Branches**: the staging CD workflow's push trigger and deploy-cicd's ``--base`` (default
  branch), the prod CD workflow's push trigger (release branch), else ``cicd_params.json``.
* **Targets**: ``targets.<t>.workspace.host`` and ``targets.<t>.variables.catalog_name`` of
  ``databricks.yml``; a Project_Only project has only ``dev`` there until deploy-cicd appends
  the others (from the values rendered into its "Update databricks.yml" step).
* **Schema, model, jobs, batch tables**: ``resources/*.yml`` listed under ``include:``, with
  ``${bundle.target}``, ``${bundle.name}`` and ``${var.*}`` resolved per target.
* **Secrets** CI reads: every ``secrets.NAME`` in the workflows (``GITHUB_TOKEN`` aside); for
  workflows not generated yet, the names the template's workflows read on that cloud.

The reader never raises on a bad tree: what it cannot read, or what blocks a setup (template
placeholders, contradicting files), is a :class:`Problem` with its file and line.
Standard library and PyYAML only: ``invoke --help`` may import this.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

from .yamlfile import TextMemo

# libyaml's parser when PyYAML was built with it (the same YAML, an order of magnitude faster:
# every task reads the project, ~10 YAML files, and that was a quarter of a full setup's time);
# PyYAML's pure-Python parser otherwise.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _safe_load(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 (both loaders are PyYAML's safe ones)


__all__ = ["Bundle", "Problem", "ProjectModel", "folder_of", "read_project"]

SETUP_MODES = ("CICD_and_Project", "CICD_Only", "Project_Only")
CLOUDS = ("aws", "azure", "gcp")
TARGETS = ("dev", "staging", "prod", "test")
DEPLOY_CICD = ".github/workflows/deploy-cicd.yml"
WORKFLOWS_DIR = ".github/workflows"
MAX_FILE_BYTES = 1 << 20  # a generated YAML or JSON file is a few KiB; refuse to parse more
MAX_WALK = 20_000  # entries of a project folder an `include:` glob looks at
MAX_RESOLVED = 4096  # characters a ${var.*} reference may grow to
# Per-project workflows deploy-cicd.yml generates (template v0.5): file suffixes after "<raw>-".
PROJECT_WORKFLOW_SUFFIXES = (
    "bundle-ci.yml",
    "bundle-cd-staging.yml",
    "bundle-cd-prod.yml",
    "run-tests.yml",
)
# What the template's workflows read per cloud, for workflows not generated yet.
CLOUD_SECRETS = {
    "aws": ("STAGING_WORKSPACE_TOKEN", "PROD_WORKSPACE_TOKEN"),
    "gcp": ("STAGING_WORKSPACE_TOKEN", "PROD_WORKSPACE_TOKEN"),
    "azure": tuple(
        f"{env}_AZURE_SP_{what}"
        for env in ("STAGING", "PROD")
        for what in ("TENANT_ID", "APPLICATION_ID", "CLIENT_SECRET")
    ),
}
WORKFLOW_SECRET = "WORKFLOW_TOKEN"  # noqa: S105 - a secret's name
HOST_DOMAINS = {
    "azure": (".azuredatabricks.net",),
    "gcp": (".gcp.databricks.com",),
    "aws": (".cloud.databricks.com",),
}
# Hosts the template writes when none was typed at `bundle init`.
PLACEHOLDER_HOST = re.compile(r"adb-x+\.xx\.azuredatabricks\.net|your-(staging|prod)-workspace\.")
OTHER_CI = {".gitlab": "gitlab", ".azure/devops-pipelines": "azure_devops"}
# The template's GitHub Actions variants (input_cicd_platform); both are set up alike.
GITHUB_PLATFORMS = ("github_actions", "github_actions_for_github_enterprise_servers")
# The template's batch inference job, in a bundle folder (the read notes where it really is).
BATCH_RESOURCE = "resources/batch-inference-workflow-resource.yml"
_SECRET_REF = re.compile(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)")
_PR_BASE = re.compile(r"gh pr create\b.*?--base[ =]['\"]?([^'\"\s]+)")
_VAR_REF = re.compile(r"\$\{(bundle\.target|bundle\.name|var\.([A-Za-z0-9_-]+))\}")


def folder_of(raw: str) -> str:
    """The project folder the template makes of a raw project name."""
    return re.sub(r"[^A-Za-z0-9_-]", "", raw).replace("-", "_")


@dataclass(frozen=True)
class Problem:
    """Something in the tree that a setup cannot work around (``blocking``) or should mention."""

    message: str
    source: str = ""
    blocking: bool = True

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.message}"


@dataclass(frozen=True)
class Bundle:
    """One project folder (a Databricks asset bundle) of the tree."""

    name: str  # raw name: bundle.name
    folder: str
    hosts: dict[str, str]  # target -> workspace URL ("" when not set)
    catalogs: dict[str, str]  # target -> catalog
    schema: str
    model_name: str
    jobs: dict[str, list[str]]  # target -> job names
    batch_inference: dict[str, dict[str, str]]  # target -> {input_table, output_table}
    targets_in_bundle: tuple[str, ...]  # targets databricks.yml itself defines
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def workflows(self) -> list[str]:
        return [f"{WORKFLOWS_DIR}/{self.name}-{s}" for s in PROJECT_WORKFLOW_SUFFIXES]


@dataclass
class ProjectModel:
    """The facts of one generated tree. ``sources`` maps a fact's key to ``file[:line]``."""

    root: Path
    setup_mode: str = ""
    cloud: str = ""
    cicd_platform: str = ""
    default_branch: str = ""
    release_branch: str = ""
    bundles: list[Bundle] = field(default_factory=list)
    selected: Bundle | None = None
    workflows: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    hosts: dict[str, str] = field(default_factory=dict)  # target -> workspace URL
    catalogs: dict[str, str] = field(default_factory=dict)  # target -> catalog
    sources: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    # -- convenience for the steps

    @property
    def blocking(self) -> list[Problem]:
        return [p for p in self.problems if p.blocking]

    @property
    def project_name(self) -> str:
        return self.selected.name if self.selected else ""

    @property
    def project_folder(self) -> str:
        return self.selected.folder if self.selected else ""

    def source(self, key: str) -> str:
        return self.sources.get(key, "")

    def batch_resource(self) -> str:
        """The file that defines the batch inference job: where this read found it, else the
        template's ``<folder>/resources/batch-inference-workflow-resource.yml``."""
        return self.source("batch_inference") or f"{self.project_folder}/{BATCH_RESOURCE}"

    def to_json(self) -> dict[str, Any]:
        """The shape `setup.inspect --json` prints (documented in runbook/index.md)."""
        b = self.selected
        envs = ("staging", "prod")
        return {
            "root": str(self.root),
            "project_name": b.name if b else None,
            "project_folder": b.folder if b else None,
            "projects": [{"name": x.name, "folder": x.folder} for x in self.bundles],
            "setup_mode": self.setup_mode or None,
            "cloud": self.cloud or None,
            "cicd_platform": self.cicd_platform or None,
            "default_branch": self.default_branch or None,
            "release_branch": self.release_branch or None,
            "workspaces": {e: self.hosts.get(e) or None for e in envs},
            "catalogs": dict(self.catalogs),
            "schema": b.schema if b else None,
            "model_name": b.model_name if b else None,
            "workflows": list(self.workflows),
            "secrets": list(self.secrets),
            "jobs": {e: list(b.jobs.get(e, [])) if b else [] for e in envs},
            "batch_inference": {e: dict(b.batch_inference.get(e, {})) if b else {} for e in envs},
            "sources": dict(sorted(self.sources.items())),
            "problems": [str(p) for p in self.problems if p.blocking],
            "notes": [str(p) for p in self.problems if not p.blocking],
        }


# --------------------------------------------------------------------------- reading files


class _Tree:
    """Bounded, never-raising reads of files below one root, with problems collected.

    One read of the project reads each file once (the text is kept for the read's other
    questions), and a YAML text parses once per process (:func:`_parse_yaml`)."""

    def __init__(self, root: Path, problems: list[Problem]) -> None:
        self.root = root
        self.problems = problems
        self._texts: dict[str, str | None] = {}
        self._real_root: str | None = None
        self._real_dirs: dict[str, str] = {}

    def problem(self, problem: Problem) -> None:
        if problem not in self.problems:  # a file read twice says its problem once
            self.problems.append(problem)

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def text(self, rel: str) -> str | None:
        if rel not in self._texts:
            self._texts[rel] = self._read(rel)
        return self._texts[rel]

    def _inside(self, path: Path) -> bool:
        """Whether ``path``, links resolved, is inside the root (links resolved too). The
        folders on the way are resolved once per read of the project (most files share a
        few); ``realpath(folder/name)`` is ``realpath(realpath(folder)/name)``."""
        if self._real_root is None:
            self._real_root = os.path.realpath(self.root)
        folder, name = os.path.split(path)
        if folder not in self._real_dirs:
            self._real_dirs[folder] = os.path.realpath(folder)
        real = os.path.join(self._real_dirs[folder], name)
        if name in ("", ".", "..") or os.path.islink(real):
            real = os.path.realpath(real)
        return Path(real).is_relative_to(self._real_root)

    def _read(self, rel: str) -> str | None:
        path = self.root / rel
        try:
            info = _stat(path)
            if info is None or not stat.S_ISREG(info.st_mode):
                return None
            # a link anywhere on the way (the file, its folder, the project folder) counts
            if not self._inside(path):
                self.problem(Problem("a link to outside the project; not read", rel))
                return None
            if info.st_size > MAX_FILE_BYTES:
                self.problem(Problem(f"larger than {MAX_FILE_BYTES} bytes; not read", rel))
                return None
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError, RuntimeError, ValueError) as exc:
            self.problem(Problem(f"cannot read ({exc.__class__.__name__})", rel))
            return None

    def json(self, rel: str) -> dict | None:
        text = self.text(rel)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except RecursionError:
            self.problem(Problem("not valid JSON (nested too deeply)", rel))
            return None
        except ValueError as exc:
            self.problem(Problem(f"not valid JSON ({exc})", rel))
            return None
        if not isinstance(data, dict):
            self.problem(Problem("expected a JSON object", rel))
            return None
        return data

    def yaml(self, rel: str) -> _Yaml | None:
        text = self.text(rel)
        if text is None:
            return None
        try:
            data, node = _parse_yaml(text)
        except (yaml.YAMLError, RecursionError) as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{rel}:{mark.line + 1}" if mark else rel
            self.problem(Problem(f"not valid YAML ({getattr(exc, 'problem', exc)})", where))
            return None
        return _Yaml(rel, data, node)


# Every task reads the project, ~10 YAML files, and parsing them was most of a settings load.
# The reader only reads what it parsed, never changes it, and nothing of it reaches the model but
# strings (tests/test_project.py holds it so); texts larger than _PARSED_TEXT are parsed each time.
_PARSED = TextMemo(128)
_PARSED_TEXT = 64 * 1024


def _parse_yaml(text: str) -> tuple[dict, Any]:
    """The mapping a YAML text holds ({} for anything else) and its node (lines of keys);
    raises what the parser raises. Parsed once per text (:data:`_PARSED`)."""

    def parse() -> tuple[dict, Any]:
        loader = _LOADER(text)
        try:  # parsed once: the node (lines of keys), then the data built from it
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
        return (data if isinstance(data, dict) else {}, node)

    return _PARSED.get(text, parse, keep=len(text) <= _PARSED_TEXT)


def _stat(path: Path) -> os.stat_result | None:
    """``os.stat``, None where :meth:`Path.is_file` says False without asking further (no such
    file, a name that is not a path); other errors are raised, as ``is_file`` raises them."""
    try:
        return os.stat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):
            return None
        raise
    except ValueError:
        return None


class _Yaml:
    """A parsed YAML file that can say on which line a key path sits."""

    def __init__(self, rel: str, data: dict, node: Any) -> None:
        self.rel = rel
        self.data = data
        self._node = node

    def get(self, *path: Any) -> Any:
        cur: Any = self.data
        for key in path:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(key) if key != "on" else cur.get("on", cur.get(True))
        return cur

    def where(self, *path: Any) -> str:
        node = self._node
        line = None
        for key in path:
            if not isinstance(node, yaml.MappingNode):
                break
            for k, v in node.value:
                names = {"on", "true", "True"} if key == "on" else {str(key)}
                if k.value in names:
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                break
        return f"{self.rel}:{line}" if line else self.rel


# --------------------------------------------------------------------------- the reader


def read_project(root: Path, select: str = "") -> ProjectModel:
    """Read the tree at ``root``; ``select`` picks one project (raw name or folder) of several."""
    root = Path(root)
    model = ProjectModel(root=root)
    tree = _Tree(root, model.problems)
    if not root.is_dir():
        model.problems.append(Problem("not a folder", str(root)))
        return model
    params = tree.json("cicd_params.json") or {}
    _read_platform(tree, model, params)
    deploy = tree.yaml(DEPLOY_CICD)
    deploy_text = tree.text(DEPLOY_CICD) or ""
    folders, odd_ones = _bundle_folders(root)
    for odd in odd_ones:
        model.problems.append(Problem("not a regular file; not read", f"{odd}/databricks.yml"))
    for folder in folders:
        bundle = _read_bundle(tree, folder, params, deploy_text)
        if bundle is not None:
            model.bundles.append(bundle)
    _select(model, select)
    _read_targets(model, params, deploy_text)
    _read_mode(tree, model, deploy)
    _read_cloud(tree, model, params)
    _read_branches(tree, model, params, deploy_text)
    _read_secrets(tree, model)
    _check(model)
    return model


def _read_platform(tree: _Tree, model: ProjectModel, params: dict) -> None:
    """GitHub Actions, from ``.github/workflows/``; which of the template's two GitHub variants
    from ``input_cicd_platform`` of ``cicd_params.json`` when the root has one. The
    ``github_actions_for_github_enterprise_servers`` variant renders the same workflows (the
    template's workflow templates do not read ``input_cicd_platform``); only its docs differ
    (``docs/mlops-setup.md`` has no "Configure CI/CD - GitHub Actions" section, the README and
    ``docs/ml-pull-request.md`` no GitHub links). It asks for ``github.host`` to be a GitHub
    Enterprise Server (checked by the config loader). Source: github.com/databricks/mlops-stacks
    (``databricks_template_schema.json``: the ``input_cicd_platform`` enum;
    ``template/update_layout.tmpl``: both variants keep ``.github``;
    ``docs/mlops-setup.md.tmpl``: the GitHub Actions section for ``github_actions`` only)."""
    root = tree.root
    if (root / WORKFLOWS_DIR).is_dir():
        model.cicd_platform = GITHUB_PLATFORMS[0]
        model.sources["cicd_platform"] = WORKFLOWS_DIR + "/"
        model.workflows = sorted(
            tree.rel(p)
            for p in (root / WORKFLOWS_DIR).iterdir()
            if p.suffix in (".yml", ".yaml") and p.is_file()
        )
        said = params.get("input_cicd_platform")
        if said == GITHUB_PLATFORMS[1]:
            model.cicd_platform = said
            model.sources["cicd_platform"] = "cicd_params.json"
        elif said not in (None, "", GITHUB_PLATFORMS[0]):
            model.problems.append(
                Problem(
                    f"input_cicd_platform is {str(said)[:60]!r}, but the tree holds "
                    f"{WORKFLOWS_DIR}/ (GitHub Actions): the files disagree",
                    "cicd_params.json",
                )
            )
        return
    for rel, name in OTHER_CI.items():
        if (root / rel).is_dir():
            model.cicd_platform = name
            model.sources["cicd_platform"] = rel + "/"
            model.problems.append(
                Problem(
                    f"this project uses {name} for CI/CD; mlops-setup sets up GitHub Actions "
                    "only (generate the project with cicd_platform github_actions, or "
                    "github_actions_for_github_enterprise_servers)",
                    rel + "/",
                )
            )
            return


def _bundle_folders(root: Path) -> tuple[list[str], list[str]]:
    """Folders holding a ``databricks.yml``: those where it is a file, those where it is not."""
    regular: list[str] = []
    odd: list[str] = []
    try:
        for p in root.glob("*/databricks.yml"):
            if not p.parent.name.startswith("."):
                (regular if p.is_file() else odd).append(p.parent.name)
    except OSError:
        return [], []
    return sorted(regular), sorted(odd)


def _select(model: ProjectModel, select: str) -> None:
    if select:
        by_name = [b for b in model.bundles if b.name == select]
        by_folder = [b for b in model.bundles if b.folder == select]
        if len(by_name) > 1 and not by_folder:
            folders = ", ".join(b.folder + "/" for b in by_name)
            model.problems.append(
                Problem(
                    f"project.name {select!r} names several projects ({folders}); "
                    "set project.name to the folder"
                )
            )
            return
        # one project of that name, else the one in a folder of that name
        for b in (by_name if len(by_name) == 1 else by_folder)[:1]:
            model.selected = b
            model.sources.update(b.sources)
            return
        known = ", ".join(b.name for b in model.bundles) or "none"
        model.problems.append(
            Problem(f"project.name {select!r} names no project here (projects: {known})")
        )
        return
    if len(model.bundles) == 1:
        model.selected = model.bundles[0]
        model.sources.update(model.selected.sources)
    elif len(model.bundles) > 1:
        names = ", ".join(b.name for b in model.bundles)
        model.problems.append(
            Problem(f"this root holds several projects ({names}); set project.name to pick one")
        )


def _read_targets(model: ProjectModel, params: dict, deploy_text: str) -> None:
    """Hosts and catalogs: the selected project's, else what the CI/CD root was rendered with."""
    if model.selected is not None:
        model.hosts = dict(model.selected.hosts)
        model.catalogs = dict(model.selected.catalogs)
        return
    if model.bundles:
        return
    for t, (host, catalog) in _appended_targets(deploy_text).items():
        where = f"{DEPLOY_CICD} (the targets its 'Update databricks.yml' step appends)"
        if host:
            model.hosts[t] = host.rstrip("/")
            model.sources[f"workspaces.{t}"] = where
        if catalog:
            model.catalogs[t] = catalog
            model.sources[f"catalogs.{t}"] = where
    for t in ("staging", "prod", "test"):
        if t not in model.catalogs and isinstance(params.get(f"{t}_catalog_name"), str):
            model.catalogs[t] = params[f"{t}_catalog_name"]
            model.sources[f"catalogs.{t}"] = "cicd_params.json"
    for t, host in model.hosts.items():
        if PLACEHOLDER_HOST.search(host):
            model.problems.append(
                Problem(f"the {t} host is the template's placeholder {host}", DEPLOY_CICD)
            )


def _read_mode(tree: _Tree, model: ProjectModel, deploy: _Yaml | None) -> None:
    has_root = deploy is not None or (tree.root / "cicd_params.json").is_file()
    b = model.selected
    if not model.bundles:
        if has_root:
            model.setup_mode = "CICD_Only"
            model.sources["setup_mode"] = "cicd_params.json / deploy-cicd.yml, no project folder"
        else:
            model.problems.append(
                Problem(
                    "this folder is not an MLOps Stacks project: no <project>/databricks.yml "
                    "and no cicd_params.json or .github/workflows/deploy-cicd.yml",
                    str(tree.root),
                )
            )
    elif b is not None and all((tree.root / w).is_file() for w in b.workflows):
        model.setup_mode = "CICD_and_Project"
        model.sources["setup_mode"] = f"{b.folder}/ with its {WORKFLOWS_DIR}/{b.name}-*.yml"
    elif b is not None:
        model.setup_mode = "Project_Only"
        model.sources["setup_mode"] = f"{b.folder}/ without {WORKFLOWS_DIR}/{b.name}-*.yml"
        if not has_root:
            model.problems.append(
                Problem(
                    "a Project_Only project outside a CI/CD root: add it to the repository "
                    "generated with CICD_Only (it has deploy-cicd.yml), and point project.dir "
                    "at that repository",
                    b.folder + "/",
                )
            )


def _read_cloud(tree: _Tree, model: ProjectModel, params: dict) -> None:
    seen: list[tuple[str, str]] = []
    if params.get("input_cloud") in CLOUDS:
        seen.append((params["input_cloud"], "cicd_params.json"))
    b = model.selected
    if b is not None:
        rel = f"{b.folder}/project_params.json"
        pp = tree.json(rel) if (tree.root / rel).is_file() else None
        if pp and pp.get("input_cloud") in CLOUDS:
            seen.append((pp["input_cloud"], rel))
    if not seen:
        for rel in model.workflows:
            text = tree.text(rel) or ""
            if "ARM_CLIENT_ID" in text:
                seen.append(("azure", rel))
                break
            if "DATABRICKS_TOKEN" in text and b is not None:
                domain = _cloud_of_host(b.hosts.get("staging", ""))
                seen.append((domain or "aws", rel))
                break
    if not seen:
        model.problems.append(Problem("cannot tell the cloud: no input_cloud in cicd_params.json"))
        return
    model.cloud, model.sources["cloud"] = seen[0]
    for cloud, src in seen[1:]:
        if cloud != model.cloud:
            model.problems.append(
                Problem(
                    f"cloud {cloud} here, but {model.cloud} in {seen[0][1]}: deploy-cicd.yml "
                    "stops when the two differ; generate both with the same cloud",
                    src,
                )
            )


def _cloud_of_host(host: str) -> str:
    for cloud, suffixes in HOST_DOMAINS.items():
        if any(re.sub(r"/+$", "", host).endswith(s) for s in suffixes):
            return cloud
    return ""


def _push_branches(doc: _Yaml | None) -> list[str]:
    if doc is None:
        return []
    branches = doc.get("on", "push", "branches")
    if isinstance(branches, str):
        return [branches]
    if isinstance(branches, list):
        return [str(x) for x in branches]
    return []


def _read_branches(tree: _Tree, model: ProjectModel, params: dict, deploy_text: str) -> None:
    b = model.selected
    for key, suffix, param in (
        ("default_branch", "bundle-cd-staging.yml", "input_default_branch"),
        ("release_branch", "bundle-cd-prod.yml", "input_release_branch"),
    ):
        seen: list[tuple[str, str]] = []
        if b is not None:
            rel = f"{WORKFLOWS_DIR}/{b.name}-{suffix}"
            if (tree.root / rel).is_file():
                doc = tree.yaml(rel)
                branches = _push_branches(doc)
                if len(branches) == 1:
                    seen.append((branches[0], doc.where("on", "push", "branches") if doc else rel))
                elif branches:
                    model.problems.append(
                        Problem(
                            f"triggers on several branches ({', '.join(branches)}); the "
                            f"template's workflow triggers on one, the {key.replace('_', ' ')}",
                            rel,
                        )
                    )
        if key == "default_branch":
            for i, line in enumerate(deploy_text.splitlines(), 1):
                m = _PR_BASE.search(line)
                if m and "$" not in m[1] and "{" not in m[1]:
                    seen.append((m[1], f"{DEPLOY_CICD}:{i}"))
                    break
        if isinstance(params.get(param), str) and params[param]:
            seen.append((params[param], "cicd_params.json"))
        if not seen:
            continue
        value, src = seen[0]
        setattr(model, key, value)
        model.sources[key] = src
        for other, where in seen[1:]:
            if other != value:
                model.problems.append(
                    Problem(
                        f"{key.replace('_', ' ')} {other!r} here, but {value!r} in {src}; "
                        "make them agree before the setup pushes anything",
                        where,
                    )
                )


def _read_secrets(tree: _Tree, model: ProjectModel) -> None:
    names: set[str] = set()
    for rel in model.workflows:
        names.update(_SECRET_REF.findall(tree.text(rel) or ""))
    names.discard("GITHUB_TOKEN")
    b = model.selected
    missing = b is not None and not all((tree.root / w).is_file() for w in b.workflows)
    if (missing or b is None) and model.cloud:
        names.update(CLOUD_SECRETS[model.cloud])  # what the generated workflows will read
    env_first = {"STAGING": 0, "PROD": 1}
    model.secrets = sorted(names, key=lambda n: (env_first.get(n.split("_")[0], 2), n))
    if model.workflows:
        model.sources["secrets"] = WORKFLOWS_DIR + "/*.yml"


# --------------------------------------------------------------------------- one bundle


def _read_bundle(tree: _Tree, folder: str, params: dict, deploy_text: str) -> Bundle | None:
    rel = f"{folder}/databricks.yml"
    doc = tree.yaml(rel)
    if doc is None:
        return None
    problems = tree.problems
    sources: dict[str, str] = {"project_name": doc.where("bundle", "name")}
    raw = doc.get("bundle", "name")
    if not isinstance(raw, str) or not raw:
        problems.append(Problem("no bundle.name; is this an MLOps Stacks project?", rel))
        return None
    if folder_of(raw) != folder:
        problems.append(
            Problem(
                f"bundle.name {raw!r} does not match its folder {folder!r} (the template makes "
                f"{folder_of(raw)!r} of it); workflows and jobs use the name, paths the folder",
                doc.where("bundle", "name"),
                blocking=False,
            )
        )
    if re.search(r"[^A-Za-z0-9_-]", raw):
        problems.append(
            Problem(
                f"project name {raw!r} holds characters other than letters, digits, '_' and "
                f"'-': deploy-cicd.yml turns them into '_' and would look for a folder other "
                f"than {folder!r}",
                doc.where("bundle", "name"),
            )
        )
    targets = doc.get("targets") if isinstance(doc.get("targets"), dict) else {}
    if doc.get("targets") is not None and not isinstance(doc.get("targets"), dict):
        problems.append(Problem("targets: expected a mapping of targets", doc.where("targets")))
    variables = doc.get("variables") if isinstance(doc.get("variables"), dict) else {}
    appended = _appended_targets(deploy_text)
    hosts: dict[str, str] = {}
    catalogs: dict[str, str] = {}
    for t in TARGETS:
        spec = targets.get(t)
        if isinstance(spec, dict):
            host = (
                (spec.get("workspace") or {}).get("host")
                if isinstance(spec.get("workspace"), dict)
                else None
            )
            hosts[t] = str(host or "")
            cat = (
                (spec.get("variables") or {}).get("catalog_name")
                if isinstance(spec.get("variables"), dict)
                else None
            )
            if cat is None:
                cat = _var_default(variables, "catalog_name")
            if cat:
                catalogs[t] = str(cat)
            if t in ("staging", "prod"):
                sources[f"workspaces.{t}"] = doc.where("targets", t, "workspace", "host")
            sources[f"catalogs.{t}"] = doc.where("targets", t, "variables", "catalog_name")
            if hosts[t] and PLACEHOLDER_HOST.search(hosts[t]):
                problems.append(
                    Problem(
                        f"targets.{t}.workspace.host is the template's placeholder {hosts[t]}; "
                        "put the real workspace URL there",
                        doc.where("targets", t, "workspace", "host"),
                    )
                )
        elif t in appended:
            hosts[t], catalogs[t] = appended[t]
            sources[f"workspaces.{t}"] = sources[f"catalogs.{t}"] = (
                f"{DEPLOY_CICD} (the targets its 'Update databricks.yml' step appends)"
            )
    if not catalogs:
        for t in ("staging", "prod", "test"):
            if isinstance(params.get(f"{t}_catalog_name"), str):
                catalogs.setdefault(t, params[f"{t}_catalog_name"])
                sources[f"catalogs.{t}"] = "cicd_params.json"
    for t in ("staging", "prod"):
        if not hosts.get(t):
            problems.append(
                Problem(
                    f"no workspace host for target {t} (targets.{t}.workspace.host)",
                    rel,
                )
            )
    resources = _resources(tree, folder, doc)
    ctx = {"bundle.name": raw}
    model_name = _resolve(str(_var_default(variables, "model_name") or ""), ctx, variables, {})
    sources["model_name"] = doc.where("variables", "model_name")
    schema = ""
    jobs: dict[str, list[str]] = {}
    batch: dict[str, dict[str, str]] = {}
    for _rel, res in resources:
        models = res.get("resources", "registered_models")
        if isinstance(models, dict):
            for spec in models.values():
                if isinstance(spec, dict) and isinstance(spec.get("schema_name"), str):
                    schema = schema or spec["schema_name"]
                    sources["schema"] = res.where("resources", "registered_models")
    for t in TARGETS:
        tvars = (targets.get(t) or {}).get("variables") if isinstance(targets.get(t), dict) else {}
        tvars = tvars if isinstance(tvars, dict) else {}
        if t in appended and "catalog_name" not in tvars:
            tvars = {"catalog_name": appended[t][1]}
        env = {"bundle.target": t, "bundle.name": raw}
        for res_rel, res in resources:
            jobs_spec = res.get("resources", "jobs")
            if not isinstance(jobs_spec, dict):
                continue
            for spec in jobs_spec.values():
                if not isinstance(spec, dict):
                    continue
                if isinstance(spec.get("name"), str):
                    sources.setdefault("jobs", f"{folder}/resources/*.yml")
                    jobs.setdefault(t, []).append(_resolve(spec["name"], env, variables, tvars))
                params_of = _job_parameters(spec)
                if "input_table_name" in params_of or "output_table_name" in params_of:
                    sources["batch_inference"] = res_rel
                    batch[t] = {
                        k.removesuffix("_name"): _resolve(
                            str(params_of.get(k, "")), env, variables, tvars
                        )
                        for k in ("input_table_name", "output_table_name")
                    }
    if not schema:
        out = batch.get("staging", {}).get("output_table", "")
        if out.count(".") == 2:
            schema = out.split(".")[1]
    return Bundle(
        name=raw,
        folder=folder,
        hosts={t: h.rstrip("/") for t, h in hosts.items()},
        catalogs=catalogs,
        schema=schema,
        model_name=model_name,
        jobs=jobs,
        batch_inference=batch,
        targets_in_bundle=tuple(t for t in TARGETS if isinstance(targets.get(t), dict)),
        sources=sources,
    )


def _var_default(variables: dict, name: str) -> Any:
    spec = variables.get(name)
    if isinstance(spec, dict):
        return spec.get("default")
    return spec if isinstance(spec, str) else None


def _resolve(text: str, env: dict[str, str], variables: dict, tvars: dict) -> str:
    """``${bundle.target}``, ``${bundle.name}`` and ``${var.x}`` (a few levels deep).

    A value that would grow past ``MAX_RESOLVED`` characters (variables that refer to each
    other many times over) is left as far as it was resolved."""
    for _ in range(5):
        grown = [len(text)]

        def sub(m: re.Match, grown: list[int] = grown) -> str:
            if m[2]:
                value = tvars[m[2]] if m[2] in tvars else _var_default(variables, m[2])
                out = str(value) if value is not None else m[0]
            else:
                out = env.get(m[1], m[0])
            grown[0] += len(out) - len(m[0])
            if grown[0] > MAX_RESOLVED:
                raise OverflowError
            return out

        try:
            new = _VAR_REF.sub(sub, text)
        except OverflowError:
            break
        if new == text:
            break
        text = new
    return text


def _job_parameters(spec: dict) -> dict:
    out: dict = {}
    tasks = spec.get("tasks")
    for task in tasks if isinstance(tasks, list) else []:
        if isinstance(task, dict):
            nb = task.get("notebook_task")
            if isinstance(nb, dict) and isinstance(nb.get("base_parameters"), dict):
                out.update({str(k): v for k, v in nb["base_parameters"].items()})
    parameters = spec.get("parameters")
    for p in parameters if isinstance(parameters, list) else []:
        if isinstance(p, dict) and isinstance(p.get("name"), str):
            out[p["name"]] = p.get("default", "")
    return out


def _resources(tree: _Tree, folder: str, doc: _Yaml) -> list[tuple[str, _Yaml]]:
    include = doc.get("include")
    out: list[tuple[str, _Yaml]] = []
    if not isinstance(include, list):
        return out
    base = tree.root / folder
    files: list[str] | None = None
    read: set[str] = set()
    for pattern in include:
        parts = (
            [p for p in pattern.split("/") if p not in ("", ".")]
            if isinstance(pattern, str)
            else []
        )
        if not parts or ".." in parts or pattern.startswith(("/", "~")) or "\\" in pattern:
            tree.problem(
                Problem(
                    f"include: {pattern!r} reaches outside the project folder; not read",
                    doc.where("include"),
                    blocking=False,
                )
            )
            continue
        if files is None:
            files = _files_below(tree, base)
        for path in [base / f for f in files if _glob_match(tuple(f.split("/")), tuple(parts))]:
            rel = tree.rel(path)
            if rel in read:
                continue  # two patterns matching one file include it once (as the CLI does)
            read.add(rel)
            res = tree.yaml(rel)
            if res is not None:
                out.append((rel, res))
    return out


def _files_below(tree: _Tree, base: Path) -> list[str]:
    """Files below ``base`` (POSIX, relative, sorted), links to folders not followed: what an
    ``include:`` glob matches against, bounded however the tree loops or sprawls."""
    out: list[str] = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        seen += len(dirnames) + len(filenames)
        rel = Path(dirpath).relative_to(base).as_posix()
        out.extend(n if rel == "." else f"{rel}/{n}" for n in filenames)
        if seen > MAX_WALK:
            tree.problem(
                Problem(
                    f"more than {MAX_WALK} files and folders; include: globs look no further",
                    tree.rel(base) + "/",
                    blocking=False,
                )
            )
            break
    return sorted(out)


@lru_cache(maxsize=4096)
def _glob_match(path: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Whether a relative path matches an ``include:`` glob (``*`` within a folder, ``**``
    across folders). A pure function of two tuples of strings: remembered, since every read
    of the project asks it of every file of the project folder again."""

    @cache
    def match(i: int, j: int) -> bool:
        if j == len(pattern):
            return i == len(path)
        if pattern[j] == "**":
            return any(match(k, j + 1) for k in range(i, len(path)))
        return i < len(path) and fnmatchcase(path[i], pattern[j]) and match(i + 1, j + 1)

    return match(0, 0)


def appended_targets_text(root: Path) -> str:
    """The YAML that deploy-cicd.yml's "Update databricks.yml" step means to append to the
    project's databricks.yml ("" if it has none): what ``ci.workflows --fix-targets`` commits."""
    try:
        text = (Path(root) / DEPLOY_CICD).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    m = re.search(r'echo -e "(\s+staging:.*?)" >>', text, re.DOTALL)
    return m[1].replace("\\n", "\n") + "\n" if m else ""


def missing_targets(databricks_yml: str) -> list[str]:
    """Which of staging, prod and test a databricks.yml text does not define."""
    try:
        data = _safe_load(databricks_yml)
    except yaml.YAMLError:
        return ["staging", "prod", "test"]
    targets = data.get("targets") if isinstance(data, dict) else None
    targets = targets if isinstance(targets, dict) else {}
    return [t for t in ("staging", "prod", "test") if not isinstance(targets.get(t), dict)]


def _appended_targets(deploy_text: str) -> dict[str, tuple[str, str]]:
    """Targets deploy-cicd.yml's "Update databricks.yml" step appends: target -> (host, catalog).

    The step echoes a YAML fragment (``  staging:\\n    variables:\\n ...``) rendered from the
    values typed at ``bundle init``; a Project_Only project gets its targets from there.
    """
    m = re.search(r'echo -e "(\s+staging:.*?)" >>', deploy_text, re.DOTALL)
    if not m:
        return {}
    try:
        frag, _ = _parse_yaml(m[1].replace("\\n", "\n"))
    except yaml.YAMLError:
        return {}
    out: dict[str, tuple[str, str]] = {}
    if isinstance(frag, dict):
        for t, spec in frag.items():
            if isinstance(spec, dict):
                host = str((spec.get("workspace") or {}).get("host") or "")
                cat = str((spec.get("variables") or {}).get("catalog_name") or "")
                out[str(t)] = (host, cat)
    return out


def _check(model: ProjectModel) -> None:
    b = model.selected
    if b is None:
        return
    if b.batch_inference:
        bare: dict[str, list[str]] = {}  # a name that is no catalog.schema.table -> targets
        for t, tables in b.batch_inference.items():
            inp = tables.get("input_table", "")
            if t in ("staging", "prod") and inp and inp.count(".") != 2:
                bare.setdefault(inp, []).append(t)
        for inp, targets in bare.items():
            model.problems.append(
                Problem(
                    f"the batch inference job reads {inp!r} in {' and '.join(targets)}, which "
                    "is not a full catalog.schema.table name (a TODO the template leaves): no "
                    "grant is made on it until you set input_table_name",
                    b.sources.get("batch_inference") or f"{b.folder}/{BATCH_RESOURCE}",
                    blocking=False,
                )
            )
    if model.cloud:
        for t in ("staging", "prod"):
            host = b.hosts.get(t, "")
            cloud = _cloud_of_host(host)
            if host and cloud and cloud != model.cloud and not PLACEHOLDER_HOST.search(host):
                model.problems.append(
                    Problem(
                        f"the {t} host {host} is a {cloud} workspace, but the project's cloud is "
                        f"{model.cloud} ({model.source('cloud')})",
                        f"{b.folder}/databricks.yml",
                    )
                )
