"""Point a GitHub Actions workflow at a CI auth mode (``ci.auth_mode``), keeping its layout.

The generated workflows (template v0.5, github.com/databricks/mlops-stacks,
``template/{{.input_root_dir}}/.github/workflows/*.yml.tmpl``) authenticate the Databricks CLI
from environment variables: ``DATABRICKS_TOKEN`` on aws/gcp (from ``{STAGING,PROD}_WORKSPACE_
TOKEN``), ``ARM_TENANT_ID``/``ARM_CLIENT_ID``/``ARM_CLIENT_SECRET`` on azure (from
``{STAGING,PROD}_AZURE_SP_*``), set at the workflow's top level (``deploy-cicd.yml``, the CD and
test workflows) or per step through an indirection (``<raw>-bundle-ci.yml``: ``STAGING_WORKSPACE_
TOKEN`` at the top, ``DATABRICKS_TOKEN: ${{ env.STAGING_WORKSPACE_TOKEN }}`` on the step).

:func:`convert` rewrites every job that runs the Databricks CLI to authenticate in the wanted
mode, with the credentials in the job's own ``env:``:

* ``token``: the template's variables, from the template's secrets (what a generated project
  reads; a project in that form is left exactly as it is);
* ``oauth``: ``DATABRICKS_CLIENT_ID`` / ``DATABRICKS_CLIENT_SECRET`` from the secrets
  ``{ENV}_DATABRICKS_CLIENT_ID`` / ``_SECRET`` (OAuth M2M), and ``DATABRICKS_HOST``;
* ``oidc`` (GitHub workload identity federation): ``DATABRICKS_AUTH_TYPE: github-oidc``,
  ``DATABRICKS_HOST`` and ``DATABRICKS_CLIENT_ID: ${{ vars.{ENV}_DATABRICKS_CLIENT_ID }}``, the
  job's ``environment: <env>`` (the federation policy's subject is
  ``repo:<owner>/<repo>:environment:<env>``) and ``permissions: id-token: write``. These names
  are those of Databricks' "Enable workload identity federation for GitHub Actions"
  (docs.databricks.com/aws/en/dev-tools/auth/provider-github;
  learn.microsoft.com/azure/databricks/dev-tools/auth/provider-github): the CLI and SDKs fetch
  GitHub's OIDC token themselves and exchange it for a Databricks token.

A job's ``permissions:`` replaces the repository's default for that job (every permission not
named is ``none``), so the block we add names what the job's steps need besides ``id-token``:
``contents: read`` (checkout), ``pull-requests``/``issues: write`` when it comments or opens pull
requests (``actions/github-script``, ``gh pr``), ``contents: write`` when it runs ``git push``.

Prod validation on pull requests under ``oidc``: ``<raw>-bundle-ci.yml`` validates the prod
target on every pull request, but the ``prod`` GitHub environment admits only the release branch
(that is the point of the lock), and a policy admitting pull requests would let any pull request
act as the prod SP. So under ``oidc`` a job that authenticates as prod in a workflow triggered by
``pull_request`` runs only on the release branch (``if: github.ref == 'refs/heads/<release>'``:
skipped on pull requests, runnable by dispatching the workflow on the release branch); prod is
validated by the prod CD workflow (``bundle validate -t prod`` before its deploy). Switching away
from ``oidc`` removes that condition again.

Editing goes through ruamel.yaml's round-trip mode: comments, key order, quoting, block scalars
and indentation of the rest of the file stay as they were. Only the job-level ``env``,
``environment``, ``permissions`` and ``if`` keys are written, auth variables are removed from step
and workflow ``env:`` maps, and top-level indirections nobody references any more are dropped.
"""

from __future__ import annotations

import functools
import io
import itertools
import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

MODES = ("token", "oauth", "oidc")
AUTH_KEYS = (
    "DATABRICKS_TOKEN",
    "ARM_TENANT_ID",
    "ARM_CLIENT_ID",
    "ARM_CLIENT_SECRET",
    "DATABRICKS_CLIENT_ID",
    "DATABRICKS_CLIENT_SECRET",
    "DATABRICKS_AUTH_TYPE",
)
OIDC_AUTH_TYPE = "github-oidc"
CREDENTIAL = re.compile(
    r"^(STAGING|PROD)_(WORKSPACE_TOKEN|AZURE_SP_(?:TENANT_ID|APPLICATION_ID|CLIENT_SECRET)|"
    r"DATABRICKS_CLIENT_(?:ID|SECRET)|ARM_(?:TENANT_ID|CLIENT_ID|CLIENT_SECRET))$"
)
_REF = re.compile(r"\b(secrets|vars|env)\.([A-Za-z_][A-Za-z0-9_]*)")


def pr_guard(release: str) -> str:
    return f"github.ref == 'refs/heads/{release}'"


@dataclass(frozen=True)
class Target:
    """What the workflows should read: the mode, the cloud, each environment's host."""

    mode: str
    cloud: str
    hosts: dict[str, str]
    release_branch: str


@dataclass
class JobAuth:
    """How one job authenticates, as read from the file."""

    job: str
    env: str  # staging | prod | "" (no credential found)
    mode: str  # token | oauth | oidc | ""
    reads: set[str] = field(default_factory=set)  # "secrets.X" / "vars.X"
    runs_cli: bool = False


class WorkflowError(ValueError):
    """A workflow the tool cannot convert safely (the message names the job and why)."""


# A run reads the same workflow texts several times (plan, apply, status, the retire step), and
# ruamel.yaml's round-trip parser is slow (~20 ms a workflow): indentation, read_auth, convert
# and signing_in_jobs are pure functions of their arguments, so their results are kept per text
# (a few dozen; a raised WorkflowError is not kept) and handed out as fresh copies (indentation's
# is a tuple).
_TEXTS_KEPT = 64
TEMPLATE_INDENT = (2, 4, 2)  # the template's style: mapping, sequence, dash offset


def _yaml(indent: tuple[int, int, int] = TEMPLATE_INDENT) -> Any:
    from ruamel.yaml import YAML

    y = YAML()  # round-trip
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a long line
    mapping, sequence, offset = indent
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    return y


_BLOCK_KEY = re.compile(r"^( *)[^\s#-][^#]*:\s*(#.*)?$")  # a key whose value is the block below


@functools.lru_cache(maxsize=_TEXTS_KEPT)
def indentation(text: str) -> tuple[int, int, int]:
    """The file's own (mapping, sequence, dash offset) indentation, so that a rewrite changes
    only the lines it means to (ruamel.yaml writes one style for the whole file). The sequence
    indent and dash offset are ruamel.yaml's guess; the mapping indent is the first nested
    mapping's step. The template's style where the file does not show one."""
    from ruamel.yaml.util import load_yaml_guess_indent

    try:
        _loaded(text)  # the kept parse (a rewrite has it already), not a parse of its own
    except WorkflowError:  # not valid YAML: _load says so
        return TEMPLATE_INDENT
    _, sequence, offset = load_yaml_guess_indent(text, yaml=_NoLoad())  # the guess: lines only
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    mapping = TEMPLATE_INDENT[0]
    for line, after in itertools.pairwise(lines):
        key = _BLOCK_KEY.match(line)
        step = len(after) - len(after.lstrip(" ")) - len(key.group(1)) if key else 0
        if key and step > 0 and not after.lstrip().startswith("-"):
            mapping = step
            break
    if not sequence or offset is None:
        return (mapping, TEMPLATE_INDENT[1], TEMPLATE_INDENT[2])
    return (mapping, max(sequence, offset + 2), offset)


def _load(text: str) -> Any:
    """``text`` parsed by ruamel.yaml's round-trip parser, a document of the caller's own to
    change: a deep copy of the one parse kept per text (a copy costs a sixth of a parse; a run
    rewrites the same workflow for each branch and mode it checks)."""
    import copy

    return copy.deepcopy(_loaded(text))


@functools.lru_cache(maxsize=_TEXTS_KEPT)
def _loaded(text: str) -> Any:
    """The kept parse of :func:`_load`: never changed, only copied."""
    from ruamel.yaml.error import YAMLError

    try:
        return _yaml().load(text)
    except YAMLError as exc:
        raise WorkflowError(f"not valid YAML ({str(exc).splitlines()[0]})") from None


class _NoLoad:
    """A stand-in for ruamel.yaml's loader in ``load_yaml_guess_indent``: its guess reads the
    lines only, and :func:`indentation` has the parse already."""

    def load(self, text: str) -> None:
        return None


@functools.cache
def _read_loader() -> Any:
    """libyaml's safe loader (PyYAML's pure-Python one without it), reading booleans as YAML 1.2
    does (``true``/``false`` only), as ruamel.yaml and GitHub do: under YAML 1.1 an ``on:`` key
    or a ``yes`` value would read as a boolean."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    bool_tag = "tag:yaml.org,2002:bool"

    class Loader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            """A key twice in one mapping is an error, as ruamel.yaml (and GitHub) have it."""
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # a merged key may be overridden: that is no duplicate
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, Hashable) and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"found duplicate key {key!r}", key_node.start_mark
                    )
                if isinstance(key, Hashable):
                    seen.add(key)
            return super().construct_mapping(node, deep=deep)

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != bool_tag]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        bool_tag, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return Loader


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> Any:
    """``text`` parsed for reading only, once per process: a run reads the same workflows many
    times (each step's preview and run, the default and the release branch, ``ci.auth``'s
    check, retire and merge proof). Read with libyaml, not ruamel.yaml's round-trip parser
    (~10 ms a file, and ~50 ms to import): a run whose workflows are in form already, as a
    generated project's are in token mode, never loads ruamel.yaml. What a document says is
    the same either way (:func:`_read_loader`: YAML 1.2 booleans, duplicate keys refused; a
    test compares the two on every generated workflow, in every mode). The document is shared
    between callers: never change it (:func:`convert` parses a fresh copy with ruamel.yaml to
    rewrite)."""
    import yaml

    try:
        return yaml.load(text, Loader=_read_loader())  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise WorkflowError(f"not valid YAML ({str(exc).splitlines()[0]})") from None


def _dump(doc: Any, indent: tuple[int, int, int] = TEMPLATE_INDENT) -> str:
    out = io.StringIO()
    _yaml(indent).dump(doc, out)
    return out.getvalue()


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def _reads(value: Any, scopes: list[dict]) -> set[str]:
    """Credential secrets/variables ``value`` reads, following ``env.X`` through ``scopes``."""
    found: set[str] = set()
    for kind, name in _REF.findall(str(value)):
        if kind == "env":
            for scope in scopes:
                if name in scope:
                    found |= _reads(scope[name], scopes[scopes.index(scope) + 1 :])
                    break
        elif CREDENTIAL.match(name):
            found.add(f"{kind}.{name}")
    return found


def _runs_cli(job: dict) -> bool:
    for step in job.get("steps") or []:
        if not isinstance(step, dict):
            continue
        if str(step.get("uses", "")).startswith("databricks/setup-cli"):
            return True
        if re.search(r"(^|\s)databricks\s", str(step.get("run", ""))):
            return True
    return False


def _auth_entries(doc: dict, job: dict) -> list[tuple[dict, str, list[dict]]]:
    """(mapping, key, scopes to resolve its value) of every auth variable the job sees."""
    top = doc.get("env") or {}
    jenv = job.get("env") or {}
    out = [(top, k, [top]) for k in AUTH_KEYS if k in top]
    out += [(jenv, k, [jenv, top]) for k in AUTH_KEYS if k in jenv]
    for step in job.get("steps") or []:
        senv = step.get("env") if isinstance(step, dict) else None
        if isinstance(senv, dict):
            out += [(senv, k, [senv, jenv, top]) for k in AUTH_KEYS if k in senv]
    return out


def job_auth(doc: dict, name: str, job: dict) -> JobAuth:
    entries = _auth_entries(doc, job)
    reads: set[str] = set()
    oidc = False
    for mapping, key, scopes in entries:
        reads |= _reads(mapping[key], scopes)
        if key == "DATABRICKS_AUTH_TYPE" and str(mapping[key]).strip() == OIDC_AUTH_TYPE:
            oidc = True
    envs = {r.split(".", 1)[1].split("_", 1)[0].lower() for r in reads}
    if len(envs) > 1:
        raise WorkflowError(
            f"job {name} reads the credentials of both {' and '.join(sorted(envs))}"
        )
    names = {r.split(".", 1)[1] for r in reads}
    if oidc:
        mode = "oidc"
    elif any(n.endswith("_DATABRICKS_CLIENT_SECRET") for n in names):
        mode = "oauth"
    elif any(n.endswith(("_WORKSPACE_TOKEN",)) or "_AZURE_SP_" in n for n in names):
        mode = "token"
    else:
        mode = ""
    return JobAuth(name, next(iter(envs), ""), mode, reads, _runs_cli(job))


def read_auth(text: str) -> list[JobAuth]:
    """How each job of a workflow authenticates (jobs that read no credential included)."""
    return [
        JobAuth(job, env, mode, set(reads), runs_cli)
        for job, env, mode, reads, runs_cli in _read_auth(text)
    ]


@functools.lru_cache(maxsize=_TEXTS_KEPT)
def _read_auth(text: str) -> tuple[tuple[str, str, str, frozenset[str], bool], ...]:
    doc = _parsed(text)
    if not isinstance(doc, dict):
        return ()
    jobs = doc.get("jobs") or {}
    return tuple(
        (a.job, a.env, a.mode, frozenset(a.reads), a.runs_cli)
        for a in (job_auth(doc, n, j) for n, j in jobs.items() if isinstance(j, dict))
    )


def _triggers(doc: dict) -> set[str]:
    on = doc.get("on", doc.get(True))
    if isinstance(on, str):
        return {on}
    if isinstance(on, list):
        return {str(t) for t in on}
    if isinstance(on, dict):
        return {str(t) for t in on}
    return set()


def _wanted_env(target: Target, env: str, top: dict) -> list[tuple[str, str]]:
    e = env.upper()
    if target.mode == "token":
        if target.cloud == "azure":
            return [
                ("ARM_TENANT_ID", f"${{{{ secrets.{e}_AZURE_SP_TENANT_ID }}}}"),
                ("ARM_CLIENT_ID", f"${{{{ secrets.{e}_AZURE_SP_APPLICATION_ID }}}}"),
                ("ARM_CLIENT_SECRET", f"${{{{ secrets.{e}_AZURE_SP_CLIENT_SECRET }}}}"),
            ]
        return [("DATABRICKS_TOKEN", f"${{{{ secrets.{e}_WORKSPACE_TOKEN }}}}")]
    host = [] if "DATABRICKS_HOST" in top else [("DATABRICKS_HOST", target.hosts[env])]
    if target.mode == "oauth":
        return [
            *host,
            ("DATABRICKS_CLIENT_ID", f"${{{{ secrets.{e}_DATABRICKS_CLIENT_ID }}}}"),
            ("DATABRICKS_CLIENT_SECRET", f"${{{{ secrets.{e}_DATABRICKS_CLIENT_SECRET }}}}"),
        ]
    return [
        *host,
        ("DATABRICKS_AUTH_TYPE", OIDC_AUTH_TYPE),
        ("DATABRICKS_CLIENT_ID", f"${{{{ vars.{e}_DATABRICKS_CLIENT_ID }}}}"),
    ]


def _base_permissions(doc: dict, job: dict) -> dict[str, str]:
    """What the job's GITHUB_TOKEN needs besides id-token (see the module docstring)."""
    top = doc.get("permissions")
    if isinstance(top, dict):
        return {str(k): str(v) for k, v in top.items() if k != "id-token"}
    text = "\n".join(_strings(job.get("steps") or []))
    perms = {"contents": "write" if re.search(r"git\s+push", text) else "read"}
    if "actions/github-script" in text or re.search(r"(^|\s)gh\s+pr\s", text):
        perms["issues"] = "write"
        perms["pull-requests"] = "write"
    return perms


def _in_form(doc: dict, job: dict, auth: JobAuth, target: Target) -> bool:
    if auth.mode != target.mode:
        return False
    jenv = job.get("env") or {}
    top = doc.get("env") or {}
    if target.mode == "token":
        return True
    want = dict(_wanted_env(target, auth.env, top))
    if any(str(jenv.get(k, "")) != v for k, v in want.items()):
        return False
    if target.mode == "oidc":
        perms = job.get("permissions")
        if not (isinstance(perms, dict) and str(perms.get("id-token")) == "write"):
            return False
        if str(job.get("environment", "")) != auth.env:
            return False
        if auth.env == "prod" and "pull_request" in _triggers(doc):
            return str(job.get("if", "")) == pr_guard(target.release_branch)
    return True


def _pop(mapping: Any, key: str) -> None:
    """Delete ``key``; the blank lines/comment after the last key stay with the new last key."""
    if key not in mapping:
        return
    keys = list(mapping.keys())
    ca = getattr(mapping, "ca", None)
    tail = ca.items.get(key) if ca is not None and keys[-1] == key else None
    del mapping[key]
    if tail is not None and len(keys) > 1:
        ca.items[keys[-2]] = tail


def _insert(job: Any, key: str, value: Any, after: tuple[str, ...]) -> None:
    keys = list(job.keys())
    pos = 0
    for k in after:
        if k in keys:
            pos = max(pos, keys.index(k) + 1)
    job.insert(pos, key, value)


def _rewrite_job(doc: Any, job: Any, auth: JobAuth, target: Target) -> None:
    from ruamel.yaml.comments import CommentedMap

    top = doc.get("env") or {}
    for step in job.get("steps") or []:
        senv = step.get("env") if isinstance(step, dict) else None
        if isinstance(senv, dict):
            for key in AUTH_KEYS:
                _pop(senv, key)
            if not senv:
                _pop(step, "env")
    jenv = job.get("env")
    if isinstance(jenv, dict):
        for key in (*AUTH_KEYS, "DATABRICKS_HOST"):
            _pop(jenv, key)
    guard = pr_guard(target.release_branch)
    if target.mode != "oidc":  # undo what oidc added
        if str(job.get("environment", "")) == auth.env:
            del job["environment"]
        perms = job.get("permissions")
        if isinstance(perms, dict) and "id-token" in perms:
            del perms["id-token"]
            if {str(k): str(v) for k, v in perms.items()} == _base_permissions(doc, job):
                del job["permissions"]
        if str(job.get("if", "")) == guard:
            del job["if"]
    wanted = _wanted_env(target, auth.env, top)
    if not isinstance(jenv, dict):
        jenv = CommentedMap()
        _insert(job, "env", jenv, ("if", "needs", "concurrency", "runs-on", "environment"))
    for key, value in wanted:
        jenv[key] = value
    if target.mode == "oidc":
        if "environment" not in job:
            _insert(job, "environment", auth.env, ("if", "needs", "concurrency", "runs-on"))
        else:  # a mapping (name, url) or a name: the user's own environment is not replaced
            current = job["environment"]
            name = current.get("name") if isinstance(current, dict) else current
            if str(name) != auth.env:
                raise WorkflowError(
                    f"job {auth.job} runs in GitHub environment {name}; under oidc it must run "
                    f"in environment {auth.env} (the federation policy's subject)"
                )
        perms = job.get("permissions")
        if not isinstance(perms, dict):
            perms = CommentedMap(_base_permissions(doc, job))
            _insert(job, "permissions", perms, ("if", "needs", "concurrency", "runs-on"))
        perms["id-token"] = "write"
        if auth.env == "prod" and "pull_request" in _triggers(doc):
            if "if" in job and str(job["if"]) != guard:
                raise WorkflowError(
                    f"job {auth.job} validates prod on pull requests and has its own `if:`; "
                    "under oidc it may run on the release branch only"
                )
            job.insert(0, "if", guard)


def _drop_unreferenced(doc: Any) -> None:
    """Remove top-level auth variables and credential indirections nobody reads any more."""
    top = doc.get("env")
    if not isinstance(top, dict):
        return
    for key in AUTH_KEYS:
        _pop(top, key)
    used = {
        name for s in _strings(doc.get("jobs") or {}) for k, name in _REF.findall(s) if k == "env"
    }
    for key in list(top.keys()):
        if key not in used and _reads(top[key], [top]):
            _pop(top, key)
    if not top:
        _pop(doc, "env")


def convert(text: str, target: Target) -> tuple[str, list[str]]:
    """``text`` rewritten for ``target`` (unchanged when already in form), and warnings. A file
    with CRLF line endings is rewritten with CRLF on every line (ruamel.yaml writes LF, but
    keeps a comment's own CR: left alone, that gives a file of mixed line endings)."""
    hosts = tuple(sorted(target.hosts.items()))
    out, warnings = _convert(text, target.mode, target.cloud, hosts, target.release_branch)
    return out, list(warnings)


@functools.lru_cache(maxsize=_TEXTS_KEPT)
def _convert(
    text: str, mode: str, cloud: str, hosts: tuple[tuple[str, str], ...], release_branch: str
) -> tuple[str, tuple[str, ...]]:
    out, warnings = _convert_now(text, Target(mode, cloud, dict(hosts), release_branch))
    return out, tuple(warnings)


def _convert_now(text: str, target: Target) -> tuple[str, list[str]]:
    crlf = "\r\n" in text
    plain = text.replace("\r\n", "\n") if crlf else text
    doc = _parsed(plain)
    warnings: list[str] = []
    if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), dict):
        return text, warnings
    auths = _cli_jobs(doc, warnings)
    top_auth = any(k in (doc.get("env") or {}) for k in AUTH_KEYS)
    in_form = all(_in_form(doc, doc["jobs"][n], a, target) for n, a in auths.items())
    if in_form and (target.mode == "token" or not top_auth):
        return text, warnings
    doc = _load(plain)  # a copy of our own to rewrite (the read above says the same jobs)
    for name, auth in auths.items():
        _rewrite_job(doc, doc["jobs"][name], auth, target)
    _drop_unreferenced(doc)
    out = _dump(doc, indentation(plain))
    return (out.replace("\n", "\r\n") if crlf else out), warnings


def _cli_jobs(doc: dict, warnings: list[str]) -> dict[str, JobAuth]:
    """The jobs of ``doc`` that run the Databricks CLI with a credential, by name; a job that
    runs it with none is said in ``warnings``."""
    auths = {}
    for name, job in doc["jobs"].items():
        if not isinstance(job, dict):
            continue
        auth = job_auth(doc, name, job)
        if not auth.runs_cli:
            continue
        if not auth.env:
            warnings.append(f"job {name} runs the Databricks CLI but reads no credential: left")
            continue
        auths[name] = auth
    return auths


def secrets_read(text: str) -> set[str]:
    """Every ``secrets.X`` a workflow's text mentions (``GITHUB_TOKEN`` aside)."""
    return {n for k, n in _REF.findall(text) if k == "secrets" and n != "GITHUB_TOKEN"}


def vars_read(text: str) -> set[str]:
    return {n for k, n in _REF.findall(text) if k == "vars"}


def signing_in_jobs(text: str) -> set[str]:
    """The names a check run of each job that signs in to Databricks may carry: its id and its
    ``name:`` (GitHub names a job's check run by the job's name, or its id when it has none)."""
    return set(_signing_in_jobs(text))


@functools.lru_cache(maxsize=_TEXTS_KEPT)
def _signing_in_jobs(text: str) -> frozenset[str]:
    doc = _parsed(text)
    jobs = (doc.get("jobs") or {}) if isinstance(doc, dict) else {}
    names: set[str] = set()
    for job_id, job in jobs.items():
        if isinstance(job, dict) and job_auth(doc, job_id, job).env:
            names.add(str(job_id))
            if isinstance(job.get("name"), str):
                names.add(job["name"])
    return frozenset(names)
