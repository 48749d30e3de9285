"""The one config loader every task uses.

Layers, later wins:

1. ``config/defaults.yaml`` (shipped; every key, its default and a comment),
2. the operator's file: ``invoke -f FILE`` (Invoke's own runtime-config flag, so Invoke's
   layering stays intact) or else ``mlops-setup.yaml`` in the working directory,
3. ``MLOPS_SETUP_*`` environment variables, resolved against the defaults tree the way Invoke
   resolves ``INVOKE_*`` ones (``MLOPS_SETUP_GITHUB_DEFAULT_BRANCH`` -> ``github.default_branch``;
   values are read as YAML scalars, so ``true``/``5``/``[a, b]`` work),
4. task flags.

Each layer is checked on its own before merging, so an error names the file (or variable) and
the key it came from. The merged result is validated by pydantic into one frozen
:class:`Settings`; derived values (project name, repo name, URLs, ``{project}`` expansion) are
filled in by :func:`load_settings`. A bad input raises :class:`ConfigError` (exit code 2) before
any network call or git command is made.

pydantic is imported here, and this module is imported only when a task runs, never while Invoke
builds its task list.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from .yamlfile import ConfigError, read_yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = ROOT / "config" / "defaults.yaml"
OPERATOR_FILE = "mlops-setup.yaml"
ENV_PREFIX = "MLOPS_SETUP_"
RUNBOOK_CONFIG = "runbook/index.md#configure"

# Keys that would hold a credential; they are refused wherever they appear.
SECRET_KEYS = re.compile(
    r"^(token|pat|password|passwd|secret|client_secret|api_key|apikey|access_token|"
    r"workflow_token|github_token|databricks_token|private_key)$",
    re.IGNORECASE,
)
CREDENTIAL_VALUE = re.compile(
    r"(dapi[0-9a-f]{32}|dose[0-9a-f]{32}|gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{40,})"
)
ACCOUNT_HOSTS = {
    "aws": "https://accounts.cloud.databricks.com",
    "azure": "https://accounts.azuredatabricks.net",
    "gcp": "https://accounts.gcp.databricks.com",
}
TARGETS = ("dev", "staging", "prod", "test")
# Settings the generated project states (mlops_setup/project.py reads them): config may repeat
# them, or change them under `override:`, but a silent contradiction is an error.
FACT_KEYS: dict[str, str] = {
    "github.default_branch": "default_branch",
    "github.release_branch": "release_branch",
    "databricks.cloud": "cloud",
    "databricks.workspaces.staging.host": "workspaces.staging",
    "databricks.workspaces.prod.host": "workspaces.prod",
    **{f"unity_catalog.catalogs.{t}": f"catalogs.{t}" for t in TARGETS},
    "unity_catalog.schema": "schema",
    "unity_catalog.batch_inference.input_table": "batch_inference",
    "unity_catalog.batch_inference.output_table": "batch_inference",
}
from . import ENVIRONMENTS  # noqa: E402,F401 - re-exported: settings speak of them

# --------------------------------------------------------------------------- the typed model


def _no_credentials(url: str) -> str:
    """URLs carry no ``user:password@``: a credential there ends up in .git/config and logs."""
    if re.match(r"^[a-z+]+://[^/@\s]+@", url, re.IGNORECASE):
        raise ValueError("a URL without a user or password in it (secrets never live in config)")
    return url


Url = Annotated[str, AfterValidator(_no_credentials)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class ProjectSettings(_Model):
    """The generated project: its root, and the project in it (raw name and folder).

    ``name`` is the name as typed at ``bundle init`` (``bundle.name``; it may hold ``-``): it
    names workflow files, jobs and deploy-cicd's input. ``folder`` names paths. Both are empty
    in a CICD_Only root, which holds no project yet.
    """

    dir: Path
    name: str = Field(pattern=r"^([A-Za-z0-9_][A-Za-z0-9_-]*)?$")
    folder: str = Field(default="", pattern=r"^([A-Za-z0-9_][A-Za-z0-9_]*)?$")


class GithubSettings(_Model):
    owner: str = Field(min_length=1, pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
    repo: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]{1,100}$")
    owner_type: Literal["auto", "org", "user"]
    visibility: Literal["private", "public", "internal"]
    default_branch: str = Field(min_length=1)
    release_branch: str = Field(min_length=1)
    remote: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    git_url: Url = Field(min_length=1)
    api_url: Url = Field(pattern=r"^https?://")
    workflow_token_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    first_commit_paths: tuple[str, ...] = Field(min_length=1)
    merge_method: Literal["merge", "squash", "rebase"]
    code_branch: str = Field(min_length=1)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    @property
    def html_url(self) -> str:
        return f"https://github.com/{self.owner}/{self.repo}"


class AccountSettings(_Model):
    host: Url = Field(pattern=r"^https://")
    id: str
    profile: str


class WorkspaceSettings(_Model):
    host: Url = Field(pattern=r"^https://[^/\s@]+/?$")
    profile: str


class Workspaces(_Model):
    staging: WorkspaceSettings
    prod: WorkspaceSettings


class ServicePrincipalNames(_Model):
    staging: str = Field(min_length=1)
    prod: str = Field(min_length=1)


class DatabricksSettings(_Model):
    cloud: Literal["aws", "azure", "gcp"]
    sp_mode: Literal["account", "workspace"]
    account: AccountSettings
    workspaces: Workspaces
    service_principals: ServicePrincipalNames
    sp_visible_timeout: int = Field(ge=0, le=3600)

    def workspace(self, env: str) -> WorkspaceSettings:
        return getattr(self.workspaces, env)


class Catalogs(_Model):
    dev: str = ""  # the dev target is the data scientists'; the setup grants nothing there
    staging: str = Field(min_length=1)
    prod: str = Field(min_length=1)
    test: str = Field(min_length=1)


class BatchInference(_Model):
    input_table: str
    output_table: str


class UnityCatalogSettings(_Model):
    catalogs: Catalogs
    schema_: str = Field(alias="schema")  # "" in a CICD_Only root: no project, no schema yet
    grant_on: Literal["catalog", "schema"]
    create_missing: bool
    storage_root: str
    batch_inference: BatchInference

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SecretsSettings(_Model):
    token_lifetime_days: int = Field(ge=1, le=730)
    renew_before_days: int = Field(ge=0, le=365)


class CiSettings(_Model):
    wait_timeout: int = Field(ge=1, le=6 * 3600)
    poll_min: float = Field(gt=0, le=600)
    poll_max: float = Field(gt=0, le=3600)
    # How CI authenticates to Databricks (mlops_setup/sections/ci/auth.py): today's stored
    # token (PAT, or Entra client secret on azure), an OAuth secret of each SP, or GitHub OIDC
    # federation (nothing Databricks-side stored in GitHub).
    auth_mode: Literal["token", "oauth", "oidc"] = "token"
    # oidc: who must approve a deployment from the `prod` GitHub environment (logins, or
    # org/team slugs); empty = no review, the release-branch lock only.
    prod_reviewers: tuple[
        Annotated[str, Field(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(/[A-Za-z0-9._-]+)?$")],
        ...,
    ] = Field(default=(), max_length=6)


class HandoffSettings(_Model):
    team: str
    users: tuple[str, ...]
    title: str = Field(min_length=1)


class Settings(_Model):
    """Everything a task may read, typed and frozen."""

    project: ProjectSettings
    github: GithubSettings
    databricks: DatabricksSettings
    unity_catalog: UnityCatalogSettings
    secrets: SecretsSettings
    ci: CiSettings
    handoff: HandoffSettings
    state_dir: Path
    override: dict[str, Any] = Field(default_factory=dict)

    _model: Any = PrivateAttr(default=None)

    @property
    def model(self) -> Any:
        """The :class:`~mlops_setup.project.ProjectModel` these settings were checked against."""
        if self._model is None:
            from .project import read_project

            self._model = read_project(self.project.dir, self.project.name)
        return self._model

    @property
    def project_path(self) -> Path:
        """Path of the bundle folder (``<dir>/<folder>``)."""
        return self.project.dir / self.project.folder

    @property
    def setup_mode(self) -> str:
        return self.model.setup_mode

    def batch_table(self, which: str, target: str) -> str:
        """The batch inference job's ``input_table``/``output_table`` in ``target``.

        The project's own value (``resources/batch-inference-workflow-resource.yml``), unless
        ``override`` sets ``unity_catalog.batch_inference.<which>`` (``{catalog}`` allowed).
        "" when neither names one.
        """
        configured = getattr(self.unity_catalog.batch_inference, which)
        if configured:
            return configured.replace("{catalog}", self.catalog(target))
        bundle = self.model.selected
        tables = bundle.batch_inference.get(target, {}) if bundle is not None else {}
        return tables.get(which, "")

    def catalog(self, target: str) -> str:
        return getattr(self.unity_catalog.catalogs, target)

    def sp_name(self, env: str) -> str:
        return getattr(self.databricks.service_principals, env)


# --------------------------------------------------------------------------- loading layers


def _check_layer(data: Any, schema: dict, label: str, prefix: str = "") -> None:
    """Refuse secrets and unknown keys; check that sections are mappings."""
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: {prefix.rstrip('.')}: expected a mapping of settings")
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if not isinstance(key, str):
            raise ConfigError(f"{label}: {dotted}: keys must be strings")
        if SECRET_KEYS.match(key):
            raise ConfigError(
                f"{label}: {dotted}: secrets never live in the config file; Databricks auth "
                "uses ~/.databrickscfg profiles or DATABRICKS_* variables, GitHub uses "
                "GITHUB_TOKEN/GH_TOKEN, and the WORKFLOW_TOKEN PAT comes from the variable named "
                "by github.workflow_token_env"
            )
        if isinstance(value, str) and CREDENTIAL_VALUE.search(value):
            raise ConfigError(
                f"{label}: {dotted}: this value looks like a credential; secrets never live in "
                "the config file (see the README, Authentication)"
            )
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(f"{label}: {dotted}: unknown setting (known here: {known})")
        if isinstance(schema[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{label}: {dotted}: expected a mapping of settings, got {type(value).__name__}"
                )
            _check_layer(value, schema[key], label, dotted + ".")


def _merge(base: dict, top: dict, sources: dict, label: str, prefix: str = "") -> dict:
    out = dict(base)
    for key, value in top.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, sources, label, dotted + ".")
        else:
            out[key] = value
            sources[dotted] = label
    return out


def _env_layer(env: dict, schema: dict, exclude: set[str]) -> tuple[dict, dict[str, str]]:
    """``MLOPS_SETUP_*`` -> nested dict, resolved against the defaults tree."""
    layer: dict = {}
    labels: dict[str, str] = {}
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or var in exclude:
            continue
        rest = var[len(ENV_PREFIX) :].lower()
        path = _resolve_env_key(rest, schema)
        if path is None:
            raise ConfigError(
                f"environment variable {var}: names no setting (e.g. MLOPS_SETUP_GITHUB_OWNER "
                "sets github.owner)"
            )
        raw = env[var]
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if value is None:
            value = ""
        node = layer
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
        labels[".".join(path)] = f"environment variable {var}"
    return layer, labels


def _resolve_env_key(rest: str, schema: dict) -> list[str] | None:
    if rest in schema and not isinstance(schema[rest], dict):
        return [rest]
    for key in sorted(schema, key=len, reverse=True):
        if isinstance(schema[key], dict) and rest.startswith(key + "_"):
            tail = _resolve_env_key(rest[len(key) + 1 :], schema[key])
            if tail is not None:
                return [key, *tail]
    return None


def _overrides_layer(overrides: dict[str, Any]) -> dict:
    layer: dict = {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = layer
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return layer


def _schema_of(defaults: dict) -> dict:
    return {k: (_schema_of(v) if isinstance(v, dict) else None) for k, v in defaults.items()}


# --------------------------------------------------------------------------- derived values


def _expand(value: Any, project: str, folder: str) -> Any:
    if isinstance(value, str):
        return value.replace("{project}", project).replace("{folder}", folder)
    if isinstance(value, list):
        return [_expand(v, project, folder) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, project, folder) for k, v in value.items()}
    return value


def _project_dir(merged: dict, base_dir: Path, sources: dict) -> Path:
    raw_dir = merged["project"].get("dir")
    label = sources.get("project.dir", "config")
    if not isinstance(raw_dir, str) or not raw_dir:
        raise ConfigError(f"{label}: project.dir: expected a folder path")
    project_dir = (base_dir / Path(raw_dir).expanduser()).resolve()
    if not project_dir.is_dir():
        raise ConfigError(f"{label}: project.dir: {project_dir} does not exist or is not a folder")
    return project_dir


def _dotted_get(data: dict, key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _dotted_set(data: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


def _fact(model: Any, key: str, target: str = "staging") -> str:
    """The project's value for the setting ``key`` ("" when the project does not say)."""
    b = model.selected
    if key.startswith("github."):
        return getattr(model, key.split(".")[1])
    if key == "databricks.cloud":
        return model.cloud
    if key.startswith("databricks.workspaces."):
        return model.hosts.get(key.split(".")[2], "")
    if key.startswith("unity_catalog.catalogs."):
        return model.catalogs.get(key.split(".")[2], "")
    if key == "unity_catalog.schema":
        return b.schema if b is not None else ""
    if key.startswith("unity_catalog.batch_inference."):
        which = key.rsplit(".", 1)[1]
        return b.batch_inference.get(target, {}).get(which, "") if b is not None else ""
    raise KeyError(key)


def _apply_facts(merged: dict, model: Any, sources: dict, overrides: dict[str, str]) -> None:
    """Fill the settings the project states; refuse a setting that contradicts one."""
    root = model.root
    for key, fact_key in FACT_KEYS.items():
        if key in overrides:
            continue  # explicitly changed; _apply_overrides puts it in
        given = _dotted_get(merged, key)
        where = model.source(fact_key)
        if key.startswith("unity_catalog.batch_inference."):
            if given and model.selected is not None:
                catalog = model.catalogs.get("staging", "")
                mine = str(given).replace("{catalog}", catalog)
                theirs = _fact(model, key)
                if theirs and mine != theirs:
                    raise _contradiction(sources, key, mine, theirs, root, where)
            continue
        value = _fact(model, key)
        if given in ("", None):
            if value:
                _dotted_set(merged, key, value)
                sources.setdefault(key, f"{root.name}/{where}")
        elif value and str(given).rstrip("/") != value.rstrip("/"):
            raise _contradiction(sources, key, given, value, root, where)


def _with_stand_ins(merged: dict) -> dict:
    """A copy whose unset project facts hold valid stand-ins, to type-check the other layers."""
    import copy

    out = copy.deepcopy(merged)
    for key in FACT_KEYS:
        if _dotted_get(out, key) in ("", None):
            stand_in = "https://stand-in.cloud.databricks.com" if key.endswith(".host") else "x"
            _dotted_set(out, key, "aws" if key == "databricks.cloud" else stand_in)
    if not _dotted_get(out, "github.first_commit_paths"):
        _dotted_set(out, "github.first_commit_paths", ["."])
    return out


def _contradiction(sources: dict, key: str, given: Any, value: str, root: Path, where: str):
    return ConfigError(
        f"{sources.get(key, 'config')}: {key}: {given!r} contradicts the project, which says "
        f"{value!r} ({root.name}/{where}); remove the setting, or put it under `override:` "
        "to change what the project says"
    )


def _read_overrides(layer: dict, label: str, schema: dict) -> dict[str, Any]:
    """The ``override:`` mapping of one layer, flattened and checked (fact keys only)."""
    raw = layer.pop("override", None)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{label}: override: expected a mapping of settings")
    flat: dict[str, Any] = {}

    def walk(node: dict, prefix: str) -> None:
        for k, v in node.items():
            dotted = f"{prefix}{k}"
            if isinstance(v, dict):
                walk(v, dotted + ".")
            elif dotted in FACT_KEYS:
                flat[dotted] = v
            else:
                known = ", ".join(FACT_KEYS)
                raise ConfigError(
                    f"{label}: override.{dotted}: only what the project states can be "
                    f"overridden ({known}); set other settings directly"
                )

    walk(raw, "")
    sub: dict = {}
    for dotted, v in flat.items():
        _dotted_set(sub, dotted, v)
    _check_layer(sub, schema, label, "override.")
    return flat


def _derive(
    merged: dict, project_dir: Path | str, name: Any, folder: str = "", repo: str = ""
) -> dict:
    """Fill in what defaults to something derived: names, URLs, ``{project}``, ``{folder}``."""
    label = name if isinstance(name, str) and name else repo or "project"
    out = _expand(merged, label, folder or label)
    out["project"] = {"dir": str(project_dir), "name": name, "folder": folder}
    gh = out["github"]
    if isinstance(gh.get("repo"), str) and not gh["repo"]:
        gh["repo"] = repo or label
    if isinstance(gh.get("git_url"), str) and not gh["git_url"]:
        # a bad owner or repo is reported on its own; the URL is only a stand-in until then
        owner, repo = gh.get("owner"), gh.get("repo")
        if isinstance(owner, str) and isinstance(repo, str):
            gh["git_url"] = f"https://github.com/{owner or 'OWNER'}/{repo}.git"
    db = out["databricks"]
    acct = db.get("account", {})
    cloud = db.get("cloud")
    if isinstance(acct, dict) and acct.get("host") == "" and isinstance(cloud, str):
        acct["host"] = ACCOUNT_HOSTS.get(cloud, "")
    state_dir = out.get("state_dir")
    if isinstance(state_dir, str) and state_dir and not Path(state_dir).is_absolute():
        out["state_dir"] = str(project_dir / state_dir)
    return out


def _validate(data: dict, sources: dict) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, sources)) from None


def _source_of(loc: str, sources: dict) -> str:
    """Where the setting at ``loc`` came from; an item of a list (``a.b.0``) from its list's."""
    while loc:
        if loc in sources:
            return sources[loc]
        loc = loc.rpartition(".")[0]
    return "config"


def _error_rank(err: Any, sources: dict) -> int:
    """Report a wrong value the operator gave before a value nobody gave yet."""
    loc = ".".join(str(p) for p in err["loc"]).replace("schema_", "schema")
    return 0 if _source_of(loc, sources) != "config" else 1


def _explain(exc: ValidationError, sources: dict) -> str:
    err = min(exc.errors(), key=lambda e: _error_rank(e, sources))
    loc = ".".join(str(p) for p in err["loc"]).replace("schema_", "schema") or "settings"
    label = _source_of(loc, sources)
    got = err.get("input")
    if err["type"] == "missing" or got == "":
        return f"{label}: {loc}: a value is required; set it in {OPERATOR_FILE} or with a flag"
    if err["type"] == "value_error":  # our own validators; the value may be a secret
        return f"{label}: {loc}: expected {err['msg'].removeprefix('Value error, ')}"
    if err["type"] == "string_pattern_mismatch":
        expected = f"a value matching {err['ctx']['pattern']}"
    elif err["type"] == "literal_error":
        expected = f"one of {err['ctx']['expected']}"
    else:
        expected = err["msg"][0].lower() + err["msg"][1:]
        expected = re.sub(r"^input should be ", "", expected)
    return f"{label}: {loc}: expected {expected} (got {got!r})"


def _required(settings: Settings, sources: dict) -> None:
    if settings.databricks.sp_mode == "account" and not settings.databricks.account.id:
        raise ConfigError(
            "config: databricks.account.id: a value is required in account mode (the account "
            "console shows it); or set databricks.sp_mode: workspace"
        )
    if settings.secrets.renew_before_days >= settings.secrets.token_lifetime_days:
        raise ConfigError(
            f"{sources.get('secrets.renew_before_days', 'config')}: secrets.renew_before_days: "
            "expected fewer days than secrets.token_lifetime_days"
        )
    mode = settings.ci.auth_mode
    if mode != "token" and settings.databricks.sp_mode != "account":
        raise ConfigError(
            f"{sources.get('ci.auth_mode', 'config')}: ci.auth_mode: {mode} needs "
            "databricks.sp_mode: account (OAuth secrets and federation policies of service "
            "principals are account APIs); use ci.auth_mode: token, or account mode"
        )
    if settings.ci.prod_reviewers and mode != "oidc":
        raise ConfigError(
            f"{sources.get('ci.prod_reviewers', 'config')}: ci.prod_reviewers: reviewers guard "
            "the `prod` GitHub environment, which only ci.auth_mode: oidc creates; set "
            "ci.auth_mode: oidc or leave ci.prod_reviewers empty"
        )
    if settings.ci.poll_min > settings.ci.poll_max:
        raise ConfigError(
            f"{sources.get('ci.poll_min', 'config')}: ci.poll_min: expected at most ci.poll_max"
        )


def operator_file(invoke_config: Any = None, cwd: Path | None = None) -> Path | None:
    """The operator's file: Invoke's ``-f FILE`` if given, else ./mlops-setup.yaml if present."""
    runtime = getattr(invoke_config, "_runtime_path", None) if invoke_config is not None else None
    if runtime:
        return Path(runtime)
    candidate = (cwd or Path.cwd()) / OPERATOR_FILE
    return candidate if candidate.exists() else None


def _layers(
    invoke_config: Any,
    overrides: dict[str, Any] | None,
    config_file: Path | None,
    env: dict[str, str],
    cwd: Path,
) -> tuple[dict, dict[str, str], dict[str, Any], Path]:
    """Every layer read, checked and merged: (merged, sources, override, base folder)."""
    defaults = read_yaml(DEFAULTS_FILE, "config/defaults.yaml")
    schema = _schema_of(defaults)
    sources: dict[str, str] = {}
    override: dict[str, Any] = {}
    merged = defaults
    path = config_file or operator_file(invoke_config, cwd)
    base_dir = cwd
    if path is not None:
        label = str(path)
        layer = read_yaml(path, label)
        override = _read_overrides(layer, label, schema)
        for key in override:
            sources[key] = f"{label} (override)"
        _check_layer(layer, schema, label)
        merged = _merge(merged, layer, sources, label)
        base_dir = (cwd / path).parent
    # The PAT's own variable may carry our prefix; it is a secret, not a setting.
    github = merged.get("github")
    pat_var = github.get("workflow_token_env") if isinstance(github, dict) else None
    exclude = {pat_var} if isinstance(pat_var, str) and pat_var else set()
    env_layer, env_labels = _env_layer(env, schema, exclude=exclude)
    _check_layer(env_layer, schema, "environment")
    for key, label in env_labels.items():
        sources[key] = label
    merged = _merge(merged, env_layer, {}, "environment")
    if overrides:
        flags = _overrides_layer(overrides)
        _check_layer(flags, schema, "task flags")
        merged = _merge(merged, flags, sources, "task flag")
    return merged, sources, override, base_dir


def load_project_model(
    invoke_config: Any = None,
    *,
    config_file: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Any:
    """The project that ``project.dir`` (and ``project.name``) of the config point at, read;
    only those two settings need to be valid (``setup.inspect`` works on any tree)."""
    from .project import read_project

    env = dict(os.environ if env is None else env)
    cwd = Path(cwd or Path.cwd())
    merged, sources, _, base_dir = _layers(invoke_config, None, config_file, env, cwd)
    name = merged["project"].get("name") or ""
    return read_project(_project_dir(merged, base_dir, sources), str(name))


def load_settings(
    invoke_config: Any = None,
    overrides: dict[str, Any] | None = None,
    *,
    config_file: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    allow_problems: bool = False,
) -> Settings:
    """Load, merge and validate every layer; raise :class:`ConfigError` on bad input.

    The generated project is read (:mod:`mlops_setup.project`) and fills every setting it
    states; a problem in it that blocks a setup is a ConfigError too, unless ``allow_problems``.
    """
    from .project import read_project

    env = dict(os.environ if env is None else env)
    cwd = Path(cwd or Path.cwd())
    merged, sources, override, base_dir = _layers(invoke_config, overrides, config_file, env, cwd)
    # Types first (naming the file and key), then the project, then derived values.
    _validate(_derive(_with_stand_ins(merged), base_dir, "project"), sources)
    project_dir = _project_dir(merged, base_dir, sources)
    model = read_project(project_dir, str(merged["project"].get("name") or ""))
    if not allow_problems:
        _refuse_problems(model, sources)
    _apply_facts(merged, model, sources, override)
    for key, value in override.items():
        _dotted_set(merged, key, value)
    b = model.selected
    repo = _root_name(project_dir)
    data = _derive(merged, project_dir, b.name if b else "", b.folder if b else "", repo)
    if not data["github"].get("first_commit_paths"):
        data["github"]["first_commit_paths"] = first_commit_paths(model)
    data["override"] = override
    settings = _validate(data, sources)
    settings._model = model
    _required(settings, sources)
    return settings


def first_commit_paths(model: Any) -> list[str]:
    """What the guide's first commit holds: the docs for CICD_and_Project, else everything."""
    if model.setup_mode == "CICD_and_Project" and model.selected is not None:
        return ["README.md", "docs", ".gitignore", f"{model.selected.folder}/resources/README.md"]
    return ["."]


def _root_name(project_dir: Path) -> str:
    """The repository's name: ``input_root_dir`` of cicd_params.json, else the folder's name."""
    import json

    try:
        params = json.loads((project_dir / "cicd_params.json").read_text(encoding="utf-8"))
        name = params.get("input_root_dir") if isinstance(params, dict) else None
    except (OSError, ValueError):
        name = None
    if isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9._-]{1,100}", name):
        return name
    return project_dir.name


def _refuse_problems(model: Any, sources: dict) -> None:
    blocking = model.blocking
    if not blocking:
        return
    more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
    first = blocking[0]
    where = f"{model.root.name}/{first.source}: " if first.source else f"{model.root}: "
    label = sources.get("project.dir", "config")
    raise ConfigError(
        f"{label}: project.dir: {where}{first.message}{more}; `invoke setup.inspect` lists "
        "what the project says and every problem"
    )
