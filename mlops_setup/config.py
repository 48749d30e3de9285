"""The one config loader every task uses.

Layers, later wins:

1. ``config/defaults.yaml`` (shipped in the package; every key, its default and a comment),
2. the user's file, ``$XDG_CONFIG_HOME/mlops-setup/config.yaml`` (``~/.config/...``): personal
   defaults such as the GitHub owner or Databricks profiles; never ``project`` or ``override``,
3. the project's file: ``invoke -f FILE`` (Invoke's own runtime-config flag, so Invoke's
   layering stays intact), else ``mlops-setup.yaml`` in the working directory, else at the root
   of the project found by walking up from it (:mod:`mlops_setup.locate`),
4. ``MLOPS_SETUP_*`` environment variables, resolved against the defaults tree the way Invoke
   resolves ``INVOKE_*`` ones (``MLOPS_SETUP_GITHUB_DEFAULT_BRANCH`` -> ``github.default_branch``;
   values are read as YAML scalars, so ``true``/``5``/``[a, b]`` work),
5. task flags.

``project.dir`` defaults to that project root, so it is needed only when running elsewhere.

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

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from . import ghhost, locate, validators
from .yamlfile import ConfigError, copy_plain, read_yaml, scalar_from_env

DEFAULTS_FILE = locate.resource(locate.DEFAULTS)  # config/defaults.yaml, shipped in the package
OPERATOR_FILE = locate.PROJECT_FILE
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
from . import ENVIRONMENTS  # noqa: E402 - re-exported; settings use them too

# --------------------------------------------------------------------------- the typed model


_USERINFO = re.compile(r"^([a-z+]+)://([^/@\s]+)@", re.IGNORECASE)
_REPO_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


def _no_credentials(url: str) -> str:
    """URLs carry no ``user:password@`` (nor, over https, a user: a token as user name): a
    credential there ends up in .git/config and logs. ``ssh://git@host/...`` is fine."""
    userinfo = _USERINFO.match(url)
    if userinfo and (userinfo.group(1).lower() != "ssh" or ":" in userinfo.group(2)):
        raise ValueError("a URL without a user or password in it (secrets never live in config)")
    return url


def _checked(check: Any) -> Any:
    """A pydantic AfterValidator from a :mod:`validators` check (None = fine)."""

    def validate(value: Any) -> Any:
        problem = check(value)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(validate)


Url = Annotated[str, AfterValidator(_no_credentials)]
Branch = Annotated[str, _checked(validators.check_ref_name)]


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


def _github_host(value: Any) -> Any:
    """``github.host``: a bare host name, kept in lower case."""
    if isinstance(value, str):
        problem = ghhost.check_host(value)
        if problem:
            raise ValueError(problem)
        return ghhost.normalize(value)
    return value


class GithubSettings(_Model):
    """Where the repo lives. ``host`` says which GitHub (github.com, a GitHub Enterprise Server,
    a GHE.com tenant: :mod:`mlops_setup.ghhost`); the API root, the default git URL, the web
    links and the OIDC issuer follow from it."""

    host: Annotated[str, BeforeValidator(_github_host)] = ghhost.GITHUB_COM
    owner: str = Field(min_length=1, pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
    repo: Annotated[str, _checked(validators.check_repo_name)] = Field(
        min_length=1, pattern=r"^[A-Za-z0-9._-]{1,100}$"
    )
    owner_type: Literal["auto", "org", "user"]
    visibility: Literal["private", "public", "internal"]
    default_branch: Branch = Field(min_length=1)
    release_branch: Branch = Field(min_length=1)
    remote: Annotated[str, _checked(validators.check_remote_name)] = Field(
        min_length=1, pattern=r"^[A-Za-z0-9._-]+$"
    )
    git_url: Annotated[Url, _checked(validators.check_git_url)] = Field(min_length=1)
    api_url: Annotated[Url, _checked(validators.check_api_url)] = Field(pattern=r"^https?://")
    workflow_token_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    first_commit_paths: tuple[Annotated[str, _checked(validators.check_relative_path)], ...] = (
        Field(min_length=1)
    )
    merge_method: Literal["merge", "squash", "rebase"]
    code_branch: Branch = Field(min_length=1)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    @property
    def kind(self) -> str:
        """``github.com``, ``ghes`` (GitHub Enterprise Server) or ``ghe.com`` (a tenant)."""
        return ghhost.kind(self.host)

    @property
    def web_url(self) -> str:
        return ghhost.web_url(self.host)

    @property
    def html_url(self) -> str:
        return f"{self.web_url}/{self.owner}/{self.repo}"

    @property
    def oidc_issuer(self) -> str:
        """The issuer of the OIDC tokens this host's Actions jobs get (federation policies)."""
        return ghhost.oidc_issuer(self.host)


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


UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SP_REF_EXPECTED = (
    "a display name (the SP is created if missing), or a mapping {application_id: <UUID>} "
    "that links an existing service principal (nothing is created)"
)


class ServicePrincipalRef(_Model):
    """One environment's service principal, as configured: a display name (the setup creates
    the SP if it is missing) or a link to an existing SP by application id (on Azure: the
    client id of its Entra ID application). A linked SP is never created, changed or removed."""

    name: str = ""
    application_id: str = ""

    @property
    def linked(self) -> bool:
        return bool(self.application_id)

    def __str__(self) -> str:
        return self.name or self.application_id


def _sp_ref(value: Any) -> Any:
    """``"prod-x"`` -> a name; ``{application_id: UUID}`` -> a link; anything else: refused.

    A bare UUID string is refused rather than guessed at: a display name that happens to look
    like an id and a link must not be one typo apart."""
    if isinstance(value, ServicePrincipalRef):
        return value
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(SP_REF_EXPECTED)
        if UUID.match(value.strip()):
            raise ValueError(
                f"{SP_REF_EXPECTED}; {value!r} looks like an application id: to link that SP "
                f"write {{application_id: {value.strip()}}}"
            )
        return ServicePrincipalRef(name=value)
    if isinstance(value, dict):
        keys = set(value)
        if keys != {"application_id"}:
            extra = ", ".join(sorted(str(k) for k in keys - {"application_id"})) or "none"
            raise ValueError(f"{SP_REF_EXPECTED} (unexpected keys: {extra})")
        app_id = value["application_id"]
        if not isinstance(app_id, str) or not UUID.match(app_id.strip()):
            raise ValueError(
                f"{SP_REF_EXPECTED}; application_id must be a UUID such as "
                "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
            )
        return ServicePrincipalRef(application_id=app_id.strip().lower())
    raise ValueError(SP_REF_EXPECTED)


SpRef = Annotated[ServicePrincipalRef, BeforeValidator(_sp_ref)]


class ServicePrincipalNames(_Model):
    staging: SpRef
    prod: SpRef


class DatabricksSettings(_Model):
    cloud: Literal["aws", "azure", "gcp"]
    sp_mode: Literal["account", "workspace"]
    account: AccountSettings
    workspaces: Workspaces
    service_principals: ServicePrincipalNames
    sp_visible_timeout: int = Field(ge=0, le=3600)
    allow_other_hosts: bool = False

    @model_validator(mode="after")
    def _hosts_in_cloud(self) -> DatabricksSettings:
        """Every host is one of the cloud's Databricks domains (or allow_other_hosts)."""
        hosts = [("account.host", self.account.host)] + [
            (f"workspaces.{env}.host", self.workspace(env).host) for env in ENVIRONMENTS
        ]
        for key, host in hosts:
            problem = validators.check_host(host, self.cloud, self.allow_other_hosts)
            if problem:
                raise ValueError(f"{key}: {problem}")
        return self

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

    def sp_ref(self, env: str) -> ServicePrincipalRef:
        return getattr(self.databricks.service_principals, env)

    def sp_name(self, env: str) -> str:
        """The configured display name of ``env``'s SP; for a linked SP, which has none in
        config, its application id (the found SP's ``display_name`` is the better label)."""
        return str(self.sp_ref(env))

    def sp_linked(self, env: str) -> str:
        """The application id of a linked SP, or "" when the setup owns (creates) it."""
        return self.sp_ref(env).application_id


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
        _refuse_credentials(value, label, dotted)
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(f"{label}: {dotted}: unknown setting (known here: {known})")
        if isinstance(schema[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{label}: {dotted}: expected a mapping of settings, got {type(value).__name__}"
                )
            _check_layer(value, schema[key], label, dotted + ".")


def _refuse_credentials(value: Any, label: str, dotted: str) -> None:
    """A credential-shaped value, or a secret-named key, anywhere under ``dotted`` (lists and
    nested mappings too) is refused, naming where it sits but never echoing it."""
    if isinstance(value, str) and CREDENTIAL_VALUE.search(value):
        raise ConfigError(
            f"{label}: {dotted}: this value looks like a credential; secrets never live in "
            "the config file (see the README, Authentication)"
        )
    items: Any = ()
    if isinstance(value, list | tuple):
        items = ((f"{dotted}[{i}]", v) for i, v in enumerate(value))
    elif isinstance(value, dict):
        for key in value:
            if isinstance(key, str) and SECRET_KEYS.match(key):
                raise ConfigError(
                    f"{label}: {dotted}.{key}: secrets never live in the config file (see the "
                    "README, Authentication)"
                )
        items = ((f"{dotted}.{k}", v) for k, v in value.items())
    for where, item in items:
        _refuse_credentials(item, label, where)


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
        value = scalar_from_env(env[var])  # bounded YAML; the text itself if not plain
        _refuse_credentials(value, f"environment variable {var}", ".".join(path))
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


class Sources(dict):
    """Dotted key -> where its value came from; ``label(key)`` falls back to the operator's
    file (the one searched, even if there is none), so every message names a file."""

    def __init__(self, fallback: str) -> None:
        super().__init__()
        self.fallback = fallback

    def label(self, key: str) -> str:
        """Where ``key`` (or the setting holding it: ``handoff.users.0``) came from."""
        parts = key.split(".")
        for n in range(len(parts), 0, -1):
            if ".".join(parts[:n]) in self:
                return self[".".join(parts[:n])]
        return self.fallback


def _label(sources: dict, key: str) -> str:
    return sources.label(key) if isinstance(sources, Sources) else sources.get(key, "config")


def _project_dir(merged: dict, base_dir: Path, sources: dict) -> Path:
    raw_dir = merged["project"].get("dir")
    label = _label(sources, "project.dir")
    if raw_dir == "":
        raise ConfigError(
            f"{label}: project.dir: no MLOps Stacks project here: run from inside the generated "
            f"project (a folder above holds .github/workflows/deploy-cicd.yml, cicd_params.json "
            f"or <project>/databricks.yml), or set project.dir in {OPERATOR_FILE}"
        )
    if not isinstance(raw_dir, str):
        raise ConfigError(f"{label}: project.dir: expected a folder path")
    if "\x00" in raw_dir:
        raise ConfigError(f"{label}: project.dir: expected a folder path (it holds a NUL byte)")
    try:
        project_dir = (base_dir / Path(raw_dir).expanduser()).resolve(strict=False)
        is_dir = project_dir.is_dir()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a name too long
        raise ConfigError(
            f"{label}: project.dir: cannot open {raw_dir} ({exc.__class__.__name__})"
        ) from None
    if not is_dir:
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
        elif value and _differ(key, str(given), value):
            raise _contradiction(sources, key, given, value, root, where)


def _differ(key: str, given: str, value: str) -> bool:
    """Whether a configured value says something else than the project (a host's name is
    case-insensitive, and a trailing ``/`` says nothing)."""
    if key.endswith(".host"):
        return given.rstrip("/").lower() != value.rstrip("/").lower()
    return given != value


def _with_stand_ins(merged: dict) -> dict:
    """A copy whose unset project facts hold valid stand-ins, to type-check the other layers."""
    out = copy_plain(merged)
    cloud = _dotted_get(out, "databricks.cloud")
    cloud = cloud if isinstance(cloud, str) and cloud in ACCOUNT_HOSTS else "aws"
    host = {
        "aws": "https://stand-in.cloud.databricks.com",
        "azure": "https://adb-0.0.azuredatabricks.net",
        "gcp": "https://stand-in.gcp.databricks.com",
    }[cloud]
    for key in FACT_KEYS:
        if _dotted_get(out, key) in ("", None):
            stand_in = host if key.endswith(".host") else "x"
            _dotted_set(out, key, cloud if key == "databricks.cloud" else stand_in)
    if not _dotted_get(out, "github.first_commit_paths"):
        _dotted_set(out, "github.first_commit_paths", ["."])
    return out


def _contradiction(sources: dict, key: str, given: Any, value: str, root: Path, where: str):
    return ConfigError(
        f"{_label(sources, key)}: {key}: {given!r} contradicts the project, which says "
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
            if dotted in FACT_KEYS:  # a mapping here is a wrong type, not more settings
                flat[dotted] = v
            elif isinstance(v, dict):
                walk(v, dotted + ".")
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


def _check_state_dir(merged: dict, project_dir: Path, sources: dict) -> None:
    """The journal's folder is a folder of its own: it ignores itself (``*``) in git, so the
    project folder or one above it would hide the whole project from git."""
    raw = merged.get("state_dir")
    label = _label(sources, "state_dir")
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
        raise ConfigError(f"{label}: state_dir: expected a folder path for the journal")
    try:
        state = (project_dir / Path(raw).expanduser()).resolve(strict=False)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"{label}: state_dir: cannot use {raw} ({exc.__class__.__name__})"
        ) from None
    if state == project_dir or state in project_dir.parents:
        raise ConfigError(
            f"{label}: state_dir: expected a folder of its own (such as .mlops-setup), not the "
            "project folder or one above it"
        )


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
    host = gh.get("host")
    host = host if isinstance(host, str) and not ghhost.check_host(host) else ghhost.GITHUB_COM
    if isinstance(gh.get("git_url"), str) and not gh["git_url"]:
        # a bad owner or repo is reported on its own; the URL is only a stand-in until then
        owner, repo = gh.get("owner"), gh.get("repo")
        if isinstance(owner, str) and isinstance(repo, str):
            gh["git_url"] = f"{ghhost.web_url(host)}/{owner or 'OWNER'}/{repo}.git"
    if isinstance(gh.get("api_url"), str) and not gh["api_url"]:
        gh["api_url"] = ghhost.api_url(host)
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


def _error_rank(err: Any, sources: dict) -> tuple[int, int]:
    """Report a wrong value the operator gave before a value nobody gave yet."""
    parts = [str(p).replace("schema_", "schema") for p in err["loc"]]
    given = any(".".join(parts[:n]) in sources for n in range(1, len(parts) + 1))
    return (0 if given else 1, -len(parts))  # then the most precise key


def _explain(exc: ValidationError, sources: dict) -> str:
    err = min(exc.errors(), key=lambda e: _error_rank(e, sources))
    loc = ".".join(str(p) for p in err["loc"]).replace("schema_", "schema") or "settings"
    msg = err["msg"].removeprefix("Value error, ")
    inner = re.match(r"^([a-z_]+(?:\.[a-z_]+)*): (.*)$", msg)
    if err["type"] == "value_error" and inner:  # a model check naming its own key
        loc, msg = f"{loc}.{inner.group(1)}", inner.group(2)
    label = _label(sources, loc)
    got = err.get("input")
    if err["type"] == "missing" or got == "":
        env = ENV_PREFIX + loc.replace(".", "_").upper()
        return f"{label}: {loc}: a value is required; set it in {label} (or {env})"
    if err["type"] == "value_error":  # our own validators; the value may be a secret
        return f"{label}: {loc}: expected {msg}"
    if err["type"] == "string_pattern_mismatch":
        expected = f"a value matching {err['ctx']['pattern']}"
    elif err["type"] == "literal_error":
        expected = f"one of {err['ctx']['expected']}"
    else:
        expected = err["msg"][0].lower() + err["msg"][1:]
        expected = re.sub(r"^input should be ", "", expected)
    return f"{label}: {loc}: expected {expected} (got {got!r})"


def _blame(sources: dict, first: str, second: str) -> str:
    """Of two keys that contradict each other, the one the operator set (the later layer's if
    both were set, ``first`` if neither was)."""
    if second in sources and first not in sources:
        return second
    return first


def _required(settings: Settings, sources: dict) -> None:
    if settings.databricks.sp_mode == "account" and not settings.databricks.account.id:
        raise ConfigError(
            f"{_label(sources, 'databricks.account.id')}: databricks.account.id: a value is "
            "required in account mode (the account console shows it); or set "
            "databricks.sp_mode: workspace"
        )
    secrets = settings.secrets
    if secrets.renew_before_days >= secrets.token_lifetime_days:
        key = _blame(sources, "secrets.renew_before_days", "secrets.token_lifetime_days")
        if key == "secrets.renew_before_days":
            expected = (
                f"fewer days than secrets.token_lifetime_days ({secrets.token_lifetime_days})"
            )
        else:
            expected = f"more days than secrets.renew_before_days ({secrets.renew_before_days})"
        raise ConfigError(f"{_label(sources, key)}: {key}: expected {expected}")
    mode = settings.ci.auth_mode
    if mode != "token" and settings.databricks.sp_mode != "account":
        raise ConfigError(
            f"{_label(sources, 'ci.auth_mode')}: ci.auth_mode: {mode} needs "
            "databricks.sp_mode: account (OAuth secrets and federation policies of service "
            "principals are account APIs); use ci.auth_mode: token, or account mode"
        )
    if settings.ci.prod_reviewers and mode != "oidc":
        raise ConfigError(
            f"{_label(sources, 'ci.prod_reviewers')}: ci.prod_reviewers: reviewers guard "
            "the `prod` GitHub environment, which only ci.auth_mode: oidc creates; set "
            "ci.auth_mode: oidc or leave ci.prod_reviewers empty"
        )
    if settings.ci.poll_min > settings.ci.poll_max:
        key = _blame(sources, "ci.poll_min", "ci.poll_max")
        expected = (
            f"at most ci.poll_max ({settings.ci.poll_max:g})"
            if key == "ci.poll_min"
            else f"at least ci.poll_min ({settings.ci.poll_min:g})"
        )
        raise ConfigError(f"{_label(sources, key)}: {key}: expected {expected}")


def _defaults() -> tuple[dict, dict]:
    """config/defaults.yaml (a fresh copy: the layers are merged into it in place) and the
    schema of its keys. Read each time: :func:`read_yaml` parses a text it has seen once."""
    data = read_yaml(DEFAULTS_FILE, "config/defaults.yaml", shipped=True)
    return data, _schema_of(data)


def operator_file(
    invoke_config: Any = None, cwd: Path | None = None, root: Path | None = None
) -> Path | None:
    """The project's file: Invoke's ``-f FILE`` if given (not a ``.py`` one: Invoke's own
    Python config, which Invoke runs), else mlops-setup.yaml in the working directory, else at
    the project root (:func:`mlops_setup.locate.project_file`)."""
    return locate.project_file(invoke_config, cwd, root)


def _user_layer(env: dict[str, str], schema: dict) -> tuple[dict, str]:
    """The user's own file (personal defaults), checked; ({}, "") when there is none."""
    path = locate.user_config_file(env)
    if not path.exists():  # a folder or a FIFO of that name is reported by read_yaml
        return {}, ""
    label = str(path)
    layer = read_yaml(path, label)
    for key in ("project", "override"):
        if key in layer:
            raise ConfigError(
                f"{label}: {key}: belongs in the project's {OPERATOR_FILE}, not in your own "
                "file (which holds personal defaults for every project)"
            )
    _check_layer(layer, schema, label)
    return layer, label


def _layers(
    invoke_config: Any,
    overrides: dict[str, Any] | None,
    config_file: Path | None,
    env: dict[str, str],
    cwd: Path,
) -> tuple[dict, dict[str, str], dict[str, Any], Path]:
    """Every layer read, checked and merged: (merged, sources, override, base folder)."""
    defaults, schema = _defaults()
    override: dict[str, Any] = {}
    found: list[Path | None] = []

    def root() -> Path | None:
        """The project around ``cwd``, looked for only when needed: the walk up lists every
        folder on the way to ``/`` (and each folder in them), and a project file in ``cwd``
        that sets ``project.dir`` needs none of it."""
        if not found:
            found.append(locate.find_project_root(cwd))
        return found[0]

    path = config_file or operator_file(invoke_config, cwd) or operator_file(None, cwd, root())
    sources = Sources(str(path) if path is not None else str((root() or cwd) / OPERATOR_FILE))
    merged = defaults
    user, user_label = _user_layer(env, schema)
    merged = _merge(merged, user, sources, user_label)
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
    project = merged.get("project")
    if isinstance(project, dict) and project.get("dir") in ("", None) and root() is not None:
        project["dir"] = str(root())
        sources["project.dir"] = f"the project found from {cwd}"
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
    _check_state_dir(merged, project_dir, sources)
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
    _github_agrees(settings, sources)
    return settings


def _github_agrees(settings: Settings, sources: dict) -> None:
    """``github.api_url``, ``github.git_url`` and the project say the same GitHub as
    ``github.host`` (a silent contradiction is an error). An explicit API root on this machine
    (a local proxy or stub) and a local git path are not GitHub hosts and are left alone."""
    from urllib.parse import urlsplit

    from .clients import _as_url

    gh = settings.github
    host_label = _label(sources, "github.host")
    derived = ghhost.api_url(gh.host)
    api = urlsplit(gh.api_url)
    if (
        gh.api_url.rstrip("/").lower() != derived
        and (api.hostname or "") not in validators.LOCAL_HOSTS
    ):
        raise ConfigError(
            f"{_label(sources, 'github.api_url')}: github.api_url: {gh.api_url!r} is not the API "
            f"of github.host {gh.host!r} ({derived}); remove github.api_url (it follows from "
            "github.host), or set github.host to the GitHub it belongs to (for GitHub "
            "Enterprise Server, its host name: https://HOST/api/v3 follows)"
        )
    git_host = (urlsplit(_as_url(gh.git_url)).hostname or "").lower()
    allowed = {gh.host, "ssh.github.com"} if gh.kind == "github.com" else {gh.host}
    if git_host and git_host not in allowed:
        raise ConfigError(
            f"{_label(sources, 'github.git_url')}: github.git_url: {git_host} is not github.host "
            f"{gh.host!r}; the GitHub token goes with every push, so only to github.host: "
            f"set github.host: {git_host} (if that is your GitHub), or fix github.git_url"
        )
    model = settings.model
    if model.cicd_platform == ghhost.GHES_PLATFORM and gh.kind != "ghes":
        where = model.source("cicd_platform") or "cicd_params.json"
        raise ConfigError(
            f"{host_label}: github.host: {gh.host!r} contradicts the project, generated for "
            f"GitHub Enterprise Server ({model.root.name}/{where}: input_cicd_platform "
            f"{ghhost.GHES_PLATFORM}); set github.host to your server's host name "
            "(ghe.example.com)"
        )


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
    if isinstance(name, str) and _REPO_NAME.fullmatch(name):
        return name
    return project_dir.name


def _refuse_problems(model: Any, sources: dict) -> None:
    blocking = model.blocking
    if not blocking:
        return
    more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
    first = blocking[0]
    source = first.source
    if not source or Path(source).is_absolute():  # a problem with the folder itself
        where = f"{source or model.root}: "
    else:
        where = f"{model.root.name}/{source}: "
    label = _label(sources, "project.dir")
    raise ConfigError(
        f"{label}: project.dir: {where}{first.message}{more}; `invoke setup.inspect` lists "
        "what the project says and every problem"
    )
