"""The bundled example project: an MLOps Stacks v0.5 rendering, and variants of it for tests.

`example_project/` (next to this module) holds one rendering as plain files a reader can open:
`databricks bundle init mlops-stacks` with setup mode CICD_and_Project, cloud aws, GitHub
Actions, Unity Catalog, no feature store, project name `my-mlops-project` (so the project folder
is `my_mlops_project`), default branch `main`, release branch `release`, staging and prod hosts
https://staging.cloud.databricks.com and https://prod.cloud.databricks.com (as typed at init),
dev host left empty, catalogs dev/staging/prod/test and schema = the project name. The texts
are ours; the facts (paths, keys, names, triggers, secret names) are the template's.

`write_example_project` copies that tree into a directory, or a variant of it. Variants are
made by transforming the canonical files along known facts, never from a second copy of them:

- names: the raw name (`my-mlops-project`: bundle name, workflow files and titles, job names,
  schema, model) and the folder (`my_mlops_project`: the folder, `working-directory`, paths)
  are replaced everywhere, paths included; `FOLDER()` is the template's folder rule;
- cloud: azure swaps each `DATABRICKS_TOKEN` from `*_WORKSPACE_TOKEN` for the three `ARM_*`
  variables from `*_AZURE_SP_*` secrets; `input_cloud` in both params files; host domains;
- branches: the staging CD trigger, deploy-cicd's `--base`, `cicd_params.json`, the docs;
  the release branch: the prod CD trigger, `cicd_params.json`, the docs;
- catalogs and hosts: `databricks.yml` targets, deploy-cicd's "Update databricks.yml" step,
  `cicd_params.json`;
- setup mode: which files exist (the template's own skip rules). A Project_Only project's
  `databricks.yml` has the dev target only: the template renders staging/prod/test targets
  in CICD_and_Project mode only, and deploy-cicd's step that should append them writes to a
  stray path instead (upstream defect of v0.4-v0.5, kept in `deploy-cicd.yml`).

`cicd.tar.gz` is the CI/CD bundle template deploy-cicd.yml unpacks: the four per-project
workflows as Go templates (cloud-conditional, like upstream's), built from the canonical
workflow files by `build_cicd_tarball()`; the stored file is identical for every variant, as
upstream's is. Regenerate it with `python -m mlops_setup.example` after changing a workflow.

Every byte, file mode and mtime of a written tree is fixed, so commits of it have stable SHAs.
Standard library only.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import os
import re
import tarfile
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CICD_PLATFORMS",
    "CLOUDS",
    "DEFAULT_HOSTS",
    "DEFAULT_PROJECT_NAME",
    "EXAMPLE_DIR",
    "FIXED_MTIME",
    "FOLDER",
    "MODES",
    "PLACEHOLDER_HOSTS",
    "PROJECT_WORKFLOWS",
    "build_cicd_tarball",
    "project_files",
    "write_example_project",
]

EXAMPLE_DIR = Path(__file__).with_name("example_project")
DEFAULT_PROJECT_NAME = "my-mlops-project"
MODES = ("CICD_and_Project", "CICD_Only", "Project_Only")
CLOUDS = ("aws", "azure", "gcp")
# the template's GitHub Actions variants (its other platforms are not ones we set up)
CICD_PLATFORMS = ("github_actions", "github_actions_for_github_enterprise_servers")
TARGETS = ("dev", "staging", "prod", "test")
FIXED_MTIME = 1767225600  # 2026-01-01T00:00:00Z
FILE_MODE = 0o644
DIR_MODE = 0o755
CLI_VERSION = "v0.236.0"

# What the stored rendering was rendered with.
_RAW = DEFAULT_PROJECT_NAME
_FOLDER = "my_mlops_project"
_CATALOGS = {t: t for t in TARGETS}
_UUID = "6453f15a-b507-5186-bbd1-24b093718a63"
_BINARY_SUFFIXES = (".png", ".tar.gz")

DEFAULT_HOSTS: dict[str, dict[str, str]] = {
    "aws": {
        "staging": "https://staging.cloud.databricks.com",
        "prod": "https://prod.cloud.databricks.com",
    },
    "azure": {
        "staging": "https://adb-3141592653589793.3.azuredatabricks.net",
        "prod": "https://adb-2718281828459045.5.azuredatabricks.net",
    },
    "gcp": {
        "staging": "https://3141592653589793.3.gcp.databricks.com",
        "prod": "https://2718281828459045.5.gcp.databricks.com",
    },
}
"""Hosts a user typed at init, per cloud (aws: the ones in the stored rendering)."""

PLACEHOLDER_HOSTS: dict[str, dict[str, str]] = {
    "aws": {
        "staging": "https://your-staging-workspace.cloud.databricks.com",
        "prod": "https://your-prod-workspace.cloud.databricks.com",
    },
    "azure": {
        "staging": "https://adb-xxxx.xx.azuredatabricks.net",
        "prod": "https://adb-xxxx.xx.azuredatabricks.net",
    },
    "gcp": {
        "staging": "https://your-staging-workspace.gcp.databricks.com",
        "prod": "https://your-prod-workspace.gcp.databricks.com",
    },
}
"""What the template writes when the hosts prompt is left at its default."""


def FOLDER(name: str) -> str:
    """The project folder for a raw project name: drop characters outside [A-Za-z0-9_-],
    then turn `-` into `_` (the template's `project_name_alphanumeric_underscore`)."""
    return re.sub(r"[^A-Za-z0-9_-]", "", name).replace("-", "_")


def PROJECT_WORKFLOWS(name: str = DEFAULT_PROJECT_NAME) -> list[str]:
    """The four per-project workflows (root-relative paths); `name` is the raw project name."""
    return [
        f".github/workflows/{name}-bundle-ci.yml",
        f".github/workflows/{name}-bundle-cd-staging.yml",
        f".github/workflows/{name}-bundle-cd-prod.yml",
        f".github/workflows/{name}-run-tests.yml",
    ]


@dataclass(frozen=True)
class _Variant:
    raw: str
    cloud: str
    default_branch: str
    release_branch: str
    hosts: Mapping[str, str]
    catalogs: Mapping[str, str]
    cicd_platform: str = "github_actions"

    @property
    def folder(self) -> str:
        return FOLDER(self.raw)


# --- public entry points ------------------------------------------------------------------------


def write_example_project(dest: Path, name: str = DEFAULT_PROJECT_NAME, **variant: Any) -> Path:
    """Write the example project (or a variant) with root `dest`; return `dest`.

    The keyword arguments are :func:`project_files`' (cloud, mode, branches, catalogs, hosts,
    placeholder_hosts, with_cicd, also, fix_targets).

    `name` is the raw project name (may hold `-`). `mode` is the template's setup mode:
    CICD_and_Project (root and project), CICD_Only (root only) or Project_Only (only the
    project folder, under `dest`). `catalogs` maps targets (dev/staging/prod/test) to catalog
    names; `hosts` maps staging/prod to workspace URLs (default: `DEFAULT_HOSTS[cloud]`, or
    `PLACEHOLDER_HOSTS[cloud]` with `placeholder_hosts=True`).

    `with_cicd=False` models a Project_Only project added to a CICD_Only root before
    deploy-cicd ran: the root plus the project folder, without the project's four workflows
    and with a dev-only `databricks.yml`. `also` adds more projects (raw names) to the root, as
    Project_Only projects whose workflows deploy-cicd added (unless `with_cicd=False`).
    `fix_targets=True` gives every Project_Only-shaped `databricks.yml` the staging/prod/test
    targets deploy-cicd means to append (as if its defect were repaired by hand).

    `dest` is created if missing; an existing non-empty directory or a non-directory is refused
    with ValueError, as are unknown modes, clouds, targets and names the template would refuse.
    """
    files = project_files(name, **variant)
    dest = Path(dest)
    if dest.exists():
        if not dest.is_dir():
            raise ValueError(f"{dest} exists and is not a directory")
        if any(dest.iterdir()):
            raise ValueError(f"{dest} exists and is not empty; refusing to write into it")
    dest.mkdir(parents=True, exist_ok=True)
    dirs: set[Path] = {dest}
    for rel, data in files.items():
        path = dest / rel
        parent = path.parent
        parent.mkdir(parents=True, exist_ok=True)
        while parent != dest:
            dirs.add(parent)
            parent = parent.parent
        path.write_bytes(data)
        os.chmod(path, FILE_MODE)
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        os.chmod(d, DIR_MODE)
        os.utime(d, (FIXED_MTIME, FIXED_MTIME))
    return dest


def project_files(
    name: str = DEFAULT_PROJECT_NAME,
    *,
    cloud: str = "aws",
    mode: str = "CICD_and_Project",
    default_branch: str = "main",
    release_branch: str = "release",
    catalogs: Mapping[str, str] | None = None,
    hosts: Mapping[str, str] | None = None,
    placeholder_hosts: bool = False,
    with_cicd: bool = True,
    also: Iterable[str] = (),
    fix_targets: bool = False,
    cicd_platform: str = "github_actions",
) -> dict[str, bytes]:
    """Every file `write_example_project` writes: root-relative POSIX path -> bytes, sorted.

    `cicd_platform` is the template's `input_cicd_platform`: `github_actions`, or
    `github_actions_for_github_enterprise_servers` (the same workflows; `cicd_params.json`
    says so, and `docs/mlops-setup.md` has no "Configure CI/CD - GitHub Actions" section,
    which the template renders for `github_actions` only)."""
    also = tuple(also)
    for raw in (name, *also):
        _check_name(raw)
    if len({FOLDER(n) for n in (name, *also)}) != 1 + len(also):
        raise ValueError(f"project names must have distinct folders: {[name, *also]}")
    if mode not in MODES:
        raise ValueError(f"unknown setup mode {mode!r}: one of {', '.join(MODES)}")
    if cloud not in CLOUDS:
        raise ValueError(f"unknown cloud {cloud!r}: one of {', '.join(CLOUDS)}")
    for what, branch in (("default", default_branch), ("release", release_branch)):
        if not re.fullmatch(r"[A-Za-z0-9._/-]+", branch) or branch.startswith(("/", "-")):
            raise ValueError(f"invalid {what} branch {branch!r}")
    if default_branch == release_branch:
        raise ValueError("the default and the release branch must differ")
    if cicd_platform not in CICD_PLATFORMS:
        raise ValueError(f"unknown cicd_platform {cicd_platform!r}: one of {CICD_PLATFORMS}")
    unknown = set(catalogs or {}) - set(TARGETS)
    if unknown:
        raise ValueError(f"unknown targets in catalogs: {sorted(unknown)}; use {TARGETS}")
    unknown = set(hosts or {}) - {"staging", "prod"}
    if unknown:
        raise ValueError(f"unknown workspaces in hosts: {sorted(unknown)}; use staging, prod")
    for value in [*(catalogs or {}).values(), *(hosts or {}).values()]:
        if not value or not re.fullmatch(r"[^\s'\"\\]+", value):
            raise ValueError(f"invalid catalog or host {value!r}")
    base_hosts = (PLACEHOLDER_HOSTS if placeholder_hosts else DEFAULT_HOSTS)[cloud]

    def variant(raw: str) -> _Variant:
        return _Variant(
            raw=raw,
            cloud=cloud,
            default_branch=default_branch,
            release_branch=release_branch,
            hosts={**base_hosts, **(hosts or {})},
            catalogs={**_CATALOGS, **(catalogs or {})},
            cicd_platform=cicd_platform,
        )

    canonical = _canonical()
    workflows = set(PROJECT_WORKFLOWS(_RAW))
    in_project = f"{_FOLDER}/"
    root = {p for p in canonical if p not in workflows and not p.startswith(in_project)}
    project = {p for p in canonical if p.startswith(in_project)}

    def add(paths: set[str], v: _Variant, *, targets: bool = True) -> None:
        for path in sorted(paths):
            rel = _rename(path, v)
            if rel in out:
                raise ValueError(f"two projects would both write {rel}")
            out[rel] = _render(path, canonical[path], v, targets=targets)

    out: dict[str, bytes] = {}
    main = variant(name)
    if mode != "Project_Only":
        add(root, main)
    if mode == "CICD_and_Project":
        full = with_cicd
        add(project, main, targets=full or fix_targets)
        if with_cicd:
            add(workflows, main)
    elif mode == "Project_Only":
        add(project, main, targets=fix_targets)
    for raw in also:
        extra = variant(raw)
        add(project, extra, targets=fix_targets)
        if with_cicd and mode != "Project_Only":
            add(workflows, extra)
    return dict(sorted(out.items()))


# --- the stored rendering -----------------------------------------------------------------------


@functools.cache
def _canonical() -> dict[str, bytes]:
    """The stored rendering: root-relative path -> bytes (caches and bytecode left out)."""
    files: dict[str, bytes] = {}
    for path in EXAMPLE_DIR.rglob("*"):
        rel = path.relative_to(EXAMPLE_DIR)
        if path.is_dir() or {"__pycache__", ".pytest_cache"} & set(rel.parts):
            continue
        files[rel.as_posix()] = path.read_bytes()
    if f"{_FOLDER}/databricks.yml" not in files:
        raise RuntimeError(f"{EXAMPLE_DIR} is incomplete (reinstall mlops-setup)")
    return dict(sorted(files.items()))


def _check_name(raw: str) -> None:
    # The template refuses names shorter than 3 or holding space, '.', '/' or '\'; it would
    # accept other punctuation, which we refuse too: it has no place in YAML keys and shell.
    if not re.fullmatch(r"[A-Za-z0-9_-]{3,}", raw) or raw.startswith("-"):
        raise ValueError(
            f"invalid project name {raw!r}: use at least 3 letters, digits, '_' or '-'"
        )


_NAMES = re.compile(rf"{re.escape(_RAW)}|{re.escape(_FOLDER)}")


def _rename(text: str, v: _Variant) -> str:
    return _NAMES.sub(lambda m: v.raw if m[0] == _RAW else v.folder, text)


def _render(path: str, data: bytes, v: _Variant, *, targets: bool) -> bytes:
    """One canonical file, transformed for the variant `v`."""
    if path.endswith(_BINARY_SUFFIXES):
        return data
    text = data.decode("utf-8")
    name = path.rsplit("/", 1)[-1]
    if path.startswith(".github/workflows/") and path.endswith(".yml"):
        if v.cloud == "azure":
            text = _azure_auth(text)
        text = _branches_in_workflow(name, text, v)
        if name == "deploy-cicd.yml":
            text = _echoed_catalogs(text, v)
    elif name in ("cicd_params.json", "project_params.json"):
        text = _params(text, v)
    elif name == "databricks.yml":
        text = _target_catalogs(text, v)
        if not targets:
            text = _dev_target_only(text)
        text = text.replace(_UUID, str(uuid.uuid5(uuid.NAMESPACE_URL, f"mlops-stacks:{v.raw}")))
    elif path.startswith("docs/") and path.endswith(".md"):
        if path == "docs/mlops-setup.md" and v.cicd_platform != CICD_PLATFORMS[0]:
            text = _without_section(text, "## Configure CI/CD - GitHub Actions\n")
        text = re.sub(
            r"`(main|release)`",
            lambda m: f"`{v.default_branch if m[1] == 'main' else v.release_branch}`",
            text,
        )
    for which in ("staging", "prod"):
        text = text.replace(DEFAULT_HOSTS["aws"][which], v.hosts[which])
    return _rename(text, v).encode("utf-8")


# --- transformations along known facts ----------------------------------------------------------

# ARM_* variable -> the *_AZURE_SP_* secret it is read from
_AZURE_VARS = (
    ("TENANT_ID", "TENANT_ID"),
    ("CLIENT_ID", "APPLICATION_ID"),
    ("CLIENT_SECRET", "CLIENT_SECRET"),
)
_TOKEN_LINE = re.compile(
    r"^(?P<indent> *)(?:(?P<prefix>STAGING|PROD)_WORKSPACE_TOKEN|DATABRICKS_TOKEN): "
    r"\$\{\{ (?P<source>secrets|env)\.(?P<env>STAGING|PROD)_WORKSPACE_TOKEN \}\}$"
)


def _azure_lines(m: re.Match[str]) -> list[str]:
    """The three ARM_* lines standing for one token line of an aws/gcp workflow."""
    env, indent = m["env"], m["indent"]
    name_prefix = f"{m['prefix']}_" if m["prefix"] else ""
    lines = []
    for arm, secret in _AZURE_VARS:
        if m["source"] == "secrets":
            source = f"secrets.{env}_AZURE_SP_{secret}"
        else:  # bundle-ci's step env reads the job env set from the secrets
            source = f"env.{env}_ARM_{arm}"
        lines.append(f"{indent}{name_prefix}ARM_{arm}: ${{{{ {source} }}}}")
    return lines


def _azure_auth(text: str) -> str:
    out: list[str] = []
    for line in text.split("\n"):
        m = _TOKEN_LINE.match(line)
        out.extend(_azure_lines(m) if m else [line])
    return "\n".join(out)


def _branches_in_workflow(name: str, text: str, v: _Variant) -> str:
    if name.endswith("-bundle-cd-staging.yml"):
        return _one(text, "      - 'main'\n", f"      - '{v.default_branch}'\n", name)
    if name.endswith("-bundle-cd-prod.yml"):
        return _one(text, "      - 'release'\n", f"      - '{v.release_branch}'\n", name)
    if name == "deploy-cicd.yml":
        return _one(text, "--base main ", f"--base {v.default_branch} ", name)
    return text


def _echoed_catalogs(text: str, v: _Variant) -> str:
    """deploy-cicd's "Update databricks.yml" step echoes each target's catalog."""
    pattern = re.compile(r"(  (staging|prod|test):\\n    variables:\\n      catalog_name: )(\w+)")
    text, n = pattern.subn(lambda m: m[1] + v.catalogs[m[2]], text)
    if n != 3:
        raise RuntimeError(f"deploy-cicd.yml: expected 3 echoed catalogs, found {n}")
    return text


def _without_section(text: str, heading: str) -> str:
    """``text`` without the section starting at ``heading`` (up to the next ``## ``)."""
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[:start] + (text[end + 1 :] if end >= 0 else "")


def _params(text: str, v: _Variant) -> str:
    data = json.loads(text)
    data["input_cloud"] = v.cloud
    if "input_cicd_platform" in data:  # cicd_params.json
        data["input_cicd_platform"] = v.cicd_platform
    if "input_default_branch" in data:  # cicd_params.json
        data["input_default_branch"] = v.default_branch
        data["input_release_branch"] = v.release_branch
        for target in ("test", "staging", "prod"):
            data[f"{target}_catalog_name"] = v.catalogs[target]
    return json.dumps(data, indent=2) + "\n"


def _target_catalogs(text: str, v: _Variant) -> str:
    """`targets.<t>.variables.catalog_name` of databricks.yml, line by line."""
    out, target, in_targets = [], None, False
    for line in text.split("\n"):
        if re.fullmatch(r"\S.*:", line):
            in_targets = line == "targets:"
        elif in_targets and (m := re.fullmatch(r"  (\w+):", line)):
            target = m[1]
        elif in_targets and target and line.startswith("      catalog_name: "):
            out.append(f"      catalog_name: {v.catalogs[target]}")
            continue
        out.append(line)
    return "\n".join(out)


def _dev_target_only(text: str) -> str:
    """databricks.yml as Project_Only renders it: the dev target only."""
    head, sep, _ = text.partition("\n\n  staging:\n")
    if not sep:
        raise RuntimeError("databricks.yml: no staging target to drop")
    return head + "\n"


def _one(text: str, old: str, new: str, where: str) -> str:
    if text.count(old) != 1:
        raise RuntimeError(f"{where}: expected {old!r} exactly once")
    return text.replace(old, new)


# --- cicd.tar.gz --------------------------------------------------------------------------------

_GH_EXPR = re.compile(r"\$\{\{.*?\}\}")
_IF_AZURE = "{{- if (eq .input_cloud `azure`) }}"


def _go_template(name: str, text: str) -> str:
    """A canonical per-project workflow as the Go template that renders it for any variant."""

    def quote(line: str) -> str:  # GitHub's own ${{ }} must pass through Go templates as is
        return _GH_EXPR.sub(lambda m: "{{`" + m[0] + "`}}", line)

    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        run: list[re.Match[str]] = []
        while i < len(lines) and (m := _TOKEN_LINE.match(lines[i])):
            run.append(m)
            i += 1
        if run:
            indent = run[0]["indent"]
            out.append(indent + _IF_AZURE)
            out.extend(quote(line) for m in run for line in _azure_lines(m))
            out.append(indent + "{{- else }}")
            out.extend(quote(m[0]) for m in run)
            out.append(indent + "{{- end }}")
            continue
        out.append(quote(lines[i]))
        i += 1
    text = "\n".join(out)
    if name.endswith("-bundle-cd-staging.yml"):
        text = _one(text, "- 'main'", "- '{{ .input_default_branch }}'", name)
    if name.endswith("-bundle-cd-prod.yml"):
        text = _one(text, "- 'release'", "- '{{ .input_release_branch }}'", name)
    text = text.replace(f"setup-cli@{CLI_VERSION}", "setup-cli@{{template `cli_version` .}}")
    return _NAMES.sub(
        lambda m: (
            "{{ .input_project_name }}"
            if m[0] == _RAW
            else "{{template `project_name_alphanumeric_underscore` .}}"
        ),
        text,
    )


_CICD_SCHEMA = {
    "welcome_message": "Rendering the CI/CD workflows of one project (run by deploy-cicd.yml).",
    "properties": {
        key: {"type": "string", "description": description, "order": order}
        for order, (key, description) in enumerate(
            [
                ("input_project_name", "Project name as typed (may hold '-')"),
                ("input_root_dir", "Root directory of the repository"),
                ("input_cloud", "Cloud: aws, azure or gcp"),
                ("input_cicd_platform", "CI/CD platform"),
                ("input_default_branch", "Branch that deploys to staging"),
                ("input_release_branch", "Branch that deploys to prod"),
                ("cloud_specific_node_type_id", "Unused by the workflows"),
                ("input_cli_version", "Databricks CLI version the workflows install"),
                ("test_catalog_name", "Catalog of the test target"),
                ("staging_catalog_name", "Catalog of the staging target"),
                ("prod_catalog_name", "Catalog of the prod target"),
                ("input_docker_image", "Unused by GitHub Actions"),
                ("input_include_feature_store", "Whether the project uses Feature Store"),
            ],
            start=1,
        )
    },
    "success_message": "CI/CD workflows for {{.input_project_name}} rendered.",
}

_CICD_HELPERS = """\
{{/* Named templates the workflow templates call. */}}
{{ define `project_name_alphanumeric_underscore` -}}
  {{- $kept := (regexp "[^A-Za-z0-9_-]").ReplaceAllString (print .input_project_name) "" -}}
  {{- (regexp "-").ReplaceAllString $kept "_" -}}
{{- end }}

{{ define `cli_version` -}}
  {{- .input_cli_version -}}
{{- end }}
"""

_CICD_LAYOUT = """\
{{/* Only GitHub Actions workflows ship in this archive; nothing to skip but this file. */}}
{{ skip "update_layout" }}
"""


def cicd_tarball_members() -> dict[str, str]:
    """Member path -> text of the CI/CD bundle template in `cicd.tar.gz` (files only)."""
    canonical = _canonical()
    members = {
        "cicd/databricks_template_schema.json": json.dumps(_CICD_SCHEMA, indent=2) + "\n",
        "cicd/library/template_variables.tmpl": _CICD_HELPERS,
        "cicd/template/update_layout.tmpl": _CICD_LAYOUT,
    }
    for path in PROJECT_WORKFLOWS(_RAW):
        name = path.rsplit("/", 1)[-1]
        member = path.replace(_RAW, "{{.input_project_name}}") + ".tmpl"
        members[f"cicd/template/{member}"] = _go_template(name, canonical[path].decode("utf-8"))
    return dict(sorted(members.items()))


def build_cicd_tarball() -> bytes:
    """`cicd.tar.gz` from the canonical workflows: reproducible (fixed order, owners, times)."""
    members = cicd_tarball_members()
    dirs = {m.rsplit("/", i)[0] for m in members for i in range(1, m.count("/") + 1)}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for entry in sorted([*dirs, *members]):
            info = tarfile.TarInfo(entry)
            info.mtime = FIXED_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if entry in members:
                data = members[entry].encode("utf-8")
                info.size, info.mode = len(data), FILE_MODE
                tar.addfile(info, io.BytesIO(data))
            else:
                info.type, info.mode = tarfile.DIRTYPE, DIR_MODE
                tar.addfile(info)
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


if __name__ == "__main__":  # python -m mlops_setup.example: refresh the stored cicd.tar.gz
    target = EXAMPLE_DIR / "cicd.tar.gz"
    target.write_bytes(build_cicd_tarball())
    print(f"wrote {target}")
