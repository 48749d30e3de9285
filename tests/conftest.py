"""Shared fixtures: the example project, a local bare ``upstream``, the fake API, the CLI.

Modes:

* default: API calls replay from ``tests/cassettes/<module>/<test>.yaml`` (vcrpy, record mode
  none, network blocked); git runs for real against a local bare repository.
* ``--compose``: the cassettes are rebuilt from the in-process fake API (``tests/fakeapi``).
* ``--record-mode=rewrite`` with real credentials in the environment: recorded from a sandbox
  (see the README, "Cassettes").
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlops_setup import replay  # noqa: E402
from mlops_setup.backoff import RecordingSleep  # noqa: E402
from mlops_setup.example import write_example_project  # noqa: E402
from mlops_setup.session import Runtime, use_runtime  # noqa: E402
from tests import invokecopy, parsecache  # noqa: E402
from tests.fakeapi import FakeAPI, World  # noqa: E402

invokecopy.install()  # Invoke's deep copies, made faster for the tests' ~900 command lines

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
# Credential-shaped fakes, built at run time so no credential-like literal sits in the source;
# the leak checks look for exactly these in cassettes, output and .git/config.
FAKE_GITHUB_TOKEN = "ghp_" + "Fake0GitHub0Token0For0Tests00000000"[:36].ljust(36, "0")
FAKE_DATABRICKS_TOKEN = "dapi" + "0123456789abcdef" * 2
FAKE_WORKFLOW_PAT = "github_pat_" + "FakeWorkflowPat0" * 4
FAKE_VALUES = (FAKE_GITHUB_TOKEN, FAKE_DATABRICKS_TOKEN, FAKE_WORKFLOW_PAT)

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Platform Engineer",
    "GIT_AUTHOR_EMAIL": "platform@example.com",
    "GIT_AUTHOR_DATE": "2026-03-02T09:00:00+00:00",
    "GIT_COMMITTER_NAME": "Platform Engineer",
    "GIT_COMMITTER_EMAIL": "platform@example.com",
    "GIT_COMMITTER_DATE": "2026-03-02T09:00:00+00:00",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}

BASE_CONFIG = {
    "github": {"owner": "acme", "owner_type": "org"},
    # the workspace hosts, branches, catalogs and cloud come from the project itself
    "databricks": {"account": {"id": "0d2c1e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"}},
    "handoff": {"team": "acme/data-science"},
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--compose",
        action="store_true",
        help="rebuild the cassettes from the in-process fake API (tests/fakeapi)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Composing runs in one process (pytest-xdist's ``-n`` from addopts is dropped): each test
    rewrites its cassette, and tests/test_conformance.py reads them all."""
    if config.getoption("--compose") and getattr(config.option, "numprocesses", None):
        config.option.numprocesses = 0


TMPFS = Path("/dev/shm")  # Linux's usual tmpfs
TMPFS_MIN_FREE = 1 << 30


def _tmpfs_for_temp_files() -> str | None:
    """A tmpfs folder for the tests' temporary files, when this machine has one to spare and
    nobody chose a temporary folder (``TMPDIR``, ``--basetemp``): each test writes an example
    project, git repositories and journals, ~100 files, and on a tmpfs creating and removing
    them takes a third of the CPU time they take on a disk's file system."""
    if os.environ.get("TMPDIR") or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return None
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            is_tmpfs = any(
                line.split()[1:3] == [str(TMPFS), "tmpfs"] for line in mounts if line.strip()
            )
        info = os.statvfs(TMPFS)
    except OSError:
        return None
    if not is_tmpfs or info.f_bavail * info.f_frsize < TMPFS_MIN_FREE:
        return None
    return str(TMPFS) if os.access(TMPFS, os.W_OK | os.X_OK) else None


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--compose"):
        config.option.disable_recording = True
    # pytest's tmp_path roots and the code's own temporary files go to the tmpfs (xdist's
    # workers get their basetemp from the controller: there, follow it if it is on the tmpfs)
    basetemp = config.option.basetemp
    if (fast := _tmpfs_for_temp_files()) and (
        basetemp is None or Path(basetemp).resolve().is_relative_to(fast)
    ):
        import tempfile

        tempfile.tempdir = fast


def pytest_collection_finish(session: pytest.Session) -> None:
    """Less of the cyclic garbage collector's work (a tenth of a test process's CPU time when
    measured): what the process holds after collection (the imported SDKs, the test items) lives
    to the end, so it is left out of every later collection (``gc.freeze``), and the youngest
    generation is collected every 20,000 allocations instead of 700 (a whole setup allocates
    millions of objects, nearly all freed by reference counting). Only when, not whether,
    garbage is collected changes."""
    import gc

    gc.freeze()
    gc.set_threshold(20_000, 10, 20)


def pytest_recording_configure(config: pytest.Config, vcr) -> None:
    vcr.register_matcher("request", replay.request_matcher)
    # the same YAML, parsed once per cassette text rather than once per run (tests/parsecache.py)
    vcr.register_serializer("yaml", parsecache.CACHED_YAML_SERIALIZER)


@pytest.fixture(scope="session", autouse=True)
def cheaper_replayed_requests() -> None:
    """Once per test process (an xdist worker, not the controller): the two shortcuts below,
    and old parsed cassettes pruned."""
    skip_absent_vcr_targets()
    install_environ_proxies_shortcut()
    parsecache.cache().prune()


# vcrpy's stubs open every replayed connection inside ``force_reset``, which tries to import
# each HTTP library it knows how to patch; a library that is not installed is looked for on the
# whole sys.path again each time (~65 us each, 2 resets a connection, ~2,200 connections a
# suite). Marking the absent ones absent in sys.modules makes the same ImportError immediate.
VCR_PATCH_TARGETS = ("botocore", "httplib2", "tornado", "httpx", "httpx_curl_cffi", "httpx2")


def skip_absent_vcr_targets() -> list[str]:
    """Mark the libraries vcrpy tries to patch and this environment lacks as absent (``None``
    in sys.modules: ``import`` raises ModuleNotFoundError at once); returns their names."""
    import importlib.util

    absent = []
    for name in VCR_PATCH_TARGETS:
        if name in sys.modules:
            continue
        if importlib.util.find_spec(name) is None:
            sys.modules[name] = None  # type: ignore[assignment]
            absent.append(name)
    return absent


def install_environ_proxies_shortcut() -> bool:
    """Make requests' per-request proxy look-up skip its two scans of the whole environment
    when the environment names no proxy at all; returns whether it is installed.

    ``Session.request`` calls ``get_environ_proxies`` for every request; on Linux that is
    urllib's ``getproxies_environment`` twice (two passes over every variable each), ~0.5 ms
    a request here, a third of a replayed request's time. When no variable's name ends in
    ``_proxy`` (any case) and no ``no_proxy`` is passed, both scans find nothing and the
    answer is ``{}`` whatever the URL; only then is the answer given without them. Any
    ``*_PROXY``/``*_proxy`` variable (``NO_PROXY`` included), or a platform whose proxies come
    from elsewhere (macOS, Windows), goes through requests' own code. tests/test_replay.py
    compares the two."""
    import urllib.request

    import requests.sessions
    import requests.utils

    original = requests.utils.get_environ_proxies
    if requests.sessions.get_environ_proxies is not original:
        return False  # installed already, or replaced by someone else
    if (requests.utils.getproxies, requests.utils.proxy_bypass) != (
        urllib.request.getproxies_environment,
        urllib.request.proxy_bypass_environment,
    ):
        return False

    environ = os.environ
    urlparse = requests.utils.urlparse

    def get_environ_proxies(url: str, no_proxy: str | None = None) -> dict[str, str]:
        if no_proxy is None and not any(k.lower().endswith("_proxy") for k in environ):
            urlparse(url).hostname  # noqa: B018 (a malformed URL raises, as in requests' code)
            return {}
        return original(url, no_proxy)

    get_environ_proxies.original = original  # type: ignore[attr-defined]
    requests.sessions.get_environ_proxies = get_environ_proxies
    return True


@pytest.fixture(scope="module")
def vcr_config() -> dict:
    return replay.vcr_kwargs()


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> RecordingSleep:
    """Nothing in a test sleeps: client retries and our waits record their delays instead."""
    sleeper = RecordingSleep()
    import time

    monkeypatch.setattr(time, "sleep", sleeper)
    return sleeper


@pytest.fixture
def world() -> World:
    """State of the fake API; only consulted with --compose."""
    return World()


@pytest.fixture(autouse=True)
def fake_api(
    request: pytest.FixtureRequest,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    vcr_cassette_dir: str,
    default_cassette_name: str,
):
    """With --compose, answer HTTP from the fake and write the test's cassette afterwards."""
    if not request.config.getoption("--compose") or not list(request.node.iter_markers("vcr")):
        yield None
        return
    api = FakeAPI(world)
    with api.serving():
        yield api
    api.save(os.path.join(vcr_cassette_dir, f"{default_cassette_name}.yaml"))


@pytest.fixture(autouse=True)
def indexed_replay(vcr):
    """In replay, look requests up through an index (:func:`mlops_setup.replay.index_cassette`),
    not by trying every interaction of the cassette."""
    if vcr is not None:
        replay.index_cassette(vcr)
    return vcr


@pytest.fixture(autouse=True)
def git_effects(vcr, world, vcr_cassette_dir, default_cassette_name):
    """In replay, make the server-side git changes the cassette's composition made (on the
    bare repo the test names in ``world.gh["git_dir"]``, looked up when the first one runs)."""
    if vcr is not None and vcr.record_mode == "none":
        path = os.path.join(vcr_cassette_dir, f"{default_cassette_name}.yaml")

        def git_dir() -> str:
            assert world.gh.get("git_dir"), "this cassette changes git: set world.gh['git_dir']"
            return str(world.gh["git_dir"])

        effects = replay.GitEffects.load(path, git_dir)
        if effects is not None:
            effects.attach(vcr)
    return vcr


@pytest.fixture(autouse=True)
def all_played(vcr, git_effects):
    """A cassette interaction the code never asked for is a claim nobody checked: fail."""
    yield vcr
    if vcr is not None and vcr.record_mode == "none" and len(vcr):
        unplayed = [
            f"{req.method} {req.uri}"
            for index, (req, _) in enumerate(vcr.data)
            if not vcr.play_counts[index]
        ]
        assert not unplayed, f"cassette interactions never requested: {unplayed}"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """No real credential or profile of the machine reaches a test; fakes instead."""
    for name in list(os.environ):
        if name.startswith(("DATABRICKS_", "GITHUB_", "GH_", "MLOPS_SETUP_", "GIT_")):
            monkeypatch.delenv(name)
    env = {
        "GITHUB_TOKEN": FAKE_GITHUB_TOKEN,
        "DATABRICKS_TOKEN": FAKE_DATABRICKS_TOKEN,
        "DATABRICKS_CONFIG_FILE": str(tmp_path / "no-databrickscfg"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),  # no personal mlops-setup config
        "WORKFLOW_TOKEN": FAKE_WORKFLOW_PAT,
        **GIT_ENV,
    }
    env["GIT_CONFIG_GLOBAL"] = _git_config()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@functools.cache
def _git_config() -> str:
    """The tests' global git config (no user's ``~/.gitconfig`` reaches a test): git's automatic
    housekeeping off (every commit, fetch and merge started ``git maintenance run --auto``, and
    every push ``git gc --auto`` in the bare repository, a process each that found nothing to
    do in repositories this small), fetched objects kept packed (~1 ms less a fetch)."""
    import atexit
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="mlops-setup-gitconfig-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    config = folder / "gitconfig"
    config.write_text(
        "[maintenance]\n\tauto = false\n[receive]\n\tautogc = false\n"
        # what a fetch receives is kept as the pack it came in (as the bare upstream keeps
        # what it receives, replay.init_upstream): not one loose file per object
        "[fetch]\n\tunpackLimit = 1\n"
    )
    return str(config)


@dataclass
class Project:
    """A generated MLOps Stacks project, its bare upstream, and the operator's config file."""

    root: Path
    upstream: Path
    config_file: Path
    workdir: Path
    name: str = "my-mlops-project"

    def write_config(self, **sections) -> Path:
        data = _deep_merge(yaml.safe_load(self.config_file.read_text()), sections)
        self.config_file.write_text(yaml.safe_dump(data, sort_keys=False))
        return self.config_file

    def git(self, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(
            ["git", *args], cwd=cwd or self.root, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def upstream_git(self, *args: str) -> str:
        return self.git("--git-dir", str(self.upstream), *args, cwd=self.workdir)

    def regenerate(self, **variant: Any) -> None:
        """Replace the project tree with another variant of the example (before any git)."""
        assert not (self.root / ".git").exists()
        shutil.rmtree(self.root)
        write_example_project(self.root, **variant)

    def qualify_input_table(self) -> str:
        """Do the template's TODO: point the batch job at a real input table (a full name in
        the target's catalog); returns the table's name pattern."""
        path = self.root / "my_mlops_project/resources/batch-inference-workflow-resource.yml"
        table = "${var.catalog_name}.my-mlops-project.feature_store_inference_input"
        text = path.read_text()
        assert "input_table_name: taxi_scoring_sample" in text
        path.write_text(text.replace("taxi_scoring_sample", table, 1))
        return table

    def commit_upstream(self, path: str, text: str, message: str) -> str:
        """A commit on upstream's main made elsewhere (a colleague, a PR merged on GitHub):
        written into the bare repo by one ``git fast-import``, the very commit (same SHA) a
        clone, ``add``, ``commit`` and ``push`` would make there in a dozen processes; returns
        the new main SHA."""

        def who(role: str) -> str:
            when = dt.datetime.fromisoformat(os.environ[f"GIT_{role}_DATE"])
            name, email = os.environ[f"GIT_{role}_NAME"], os.environ[f"GIT_{role}_EMAIL"]
            return f"{name} <{email}> {int(when.timestamp())} {when.strftime('%z')}"

        blob, note = text.encode(), f"{message}\n".encode()  # `commit -m` ends it with \n
        stream = b"".join(
            [
                b"commit refs/heads/main\nmark :1\n",
                f"author {who('AUTHOR')}\ncommitter {who('COMMITTER')}\n".encode(),
                b"data %d\n%s" % (len(note), note),
                b"from refs/heads/main^0\n",
                f"M 100644 inline {path}\n".encode(),
                b"data %d\n%s\n" % (len(blob), blob),
                b"get-mark :1\n",
            ]
        )
        done = subprocess.run(
            ["git", "--git-dir", str(self.upstream), "fast-import", "--quiet", "--cat-blob-fd=1"],
            input=stream,
            capture_output=True,
            check=True,
        )
        return done.stdout.decode().strip()


def _deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@functools.cache
def _empty_bare_repo() -> Path:
    """:func:`mlops_setup.replay.init_upstream`, run once per process: each project copies it
    (a copy is the same files, less the sample hooks, and costs a third of spawning git from a
    test process)."""
    import atexit
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="mlops-setup-tests-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    template = folder / "empty.git"
    replay.init_upstream(template)
    # git's sample hooks (``*.sample``: examples, never run) are most of its files; a copy
    # without them takes half the CPU time (~0.6 ms instead of ~1.4 ms a test)
    for sample in (template / "hooks").glob("*.sample"):
        sample.unlink()
    return template


def make_project(base: Path, *, with_cicd: bool = True, config: dict | None = None) -> Project:
    """The example project (the template's default: CICD_and_Project, its workflows generated),
    or with ``with_cicd=False`` a Project_Only project in a CI/CD root before deploy-cicd.yml
    ran (tests marked ``project_only``)."""
    workdir = base / "work"
    workdir.mkdir(parents=True)
    root = write_example_project(workdir / "my-mlops-project", with_cicd=with_cicd)
    upstream = workdir / "upstream.git"
    shutil.copytree(_empty_bare_repo(), upstream, symlinks=True)
    data = _deep_merge(
        BASE_CONFIG, {"project": {"dir": str(root)}, "github": {"git_url": str(upstream)}}
    )
    data = _deep_merge(data, config or {})
    config_file = workdir / "mlops-setup.yaml"
    config_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return Project(root=root, upstream=upstream, config_file=config_file, workdir=workdir)


@pytest.fixture
def project(request, tmp_path: Path, clean_env, world: World) -> Project:
    made = make_project(tmp_path, with_cicd="project_only" not in request.keywords)
    world.gh["git_dir"] = str(made.upstream)  # the bare repo stands in for GitHub's copy
    return made


def reachable(host: str, port: int, budget: float, **how: object) -> None:
    """The first contact with a host (mlops_setup.netcheck) in replay: the cassette answers for
    the host, so it counts as reachable. tests/test_netcheck.py tests the real probe."""
    return None


@pytest.fixture
def runtime(project: Project, no_sleep: RecordingSleep):
    """Fixed clock, recorded sleeps, the project's folder as working directory."""
    from mlops_setup.entra import StaticCredential

    graph = StaticCredential("fake-graph-token")  # Authorization headers are never recorded
    runtime = Runtime(
        sleep=no_sleep,
        now=lambda: NOW,
        cwd=str(project.workdir),
        probe=reachable,
        azure_credential=graph,
    )
    with use_runtime(runtime) as rt:
        yield rt


@dataclass
class CliResult:
    code: int
    out: str
    err: str


_TASKS_PY = str(ROOT / "tasks.py")
_LOADED: dict[str, Any] = {}  # "key": what tasks.py's last run depended on; "loaded": its load


@functools.cache
def _tasks_loader() -> type:
    """Invoke's ``FilesystemLoader``, less running this clone's tasks.py again when nothing it
    reads has changed since the last run: tasks.py is ``ns = namespace("docs")``, and what that
    builds depends only on which task modules are imported (:func:`mlops_setup.taskindex.collection`
    uses an imported module's own ``ns``); it also switches bytecode writing on, unless
    PYTHONDONTWRITEBYTECODE is set (the tests set it; without it, every call runs tasks.py).
    Everything after the load (``Collection.from_module``, config, parse, run) is Invoke's, as
    for the ``invoke`` command; ``tests/test_cli.py`` holds the two loaders' results equal."""
    from invoke.loader import FilesystemLoader

    from mlops_setup import taskindex

    reads = (
        "mlops_setup.cli",
        *taskindex.COLLECTIONS.values(),
        *(m for m, _ in taskindex.TASKS.values()),
    )

    class ClonesTasks(FilesystemLoader):
        def load(self, name: str | None = None) -> tuple[Any, str]:
            name = name or self.config.tasks.collection_name
            spec = self.find(name) if os.environ.get("PYTHONDONTWRITEBYTECODE") else None
            if spec is None or spec.origin != _TASKS_PY:
                return super().load(name)
            key = (name, os.stat(_TASKS_PY).st_mtime_ns, *(sys.modules.get(m) for m in reads))
            if _LOADED.get("key") != key:
                _LOADED.update(key=key, loaded=super().load(name))
                return _LOADED["loaded"]
            module, parent = _LOADED["loaded"]
            if parent not in sys.path:  # what Invoke's load does besides running the file
                sys.path.insert(0, parent)
            sys.modules[name] = module
            return module, parent

    return ClonesTasks


def run_cli(*args: str, cwd: Path | None = None, loader: type | None = None) -> CliResult:
    """Run ``invoke ARGS`` in-process against this repo's tasks.py, capturing output (with
    tasks.py run again only when what it builds would differ: :func:`_tasks_loader`; ``loader``
    gives another loader class, e.g. Invoke's own)."""
    from invoke import Program

    out, err = io.StringIO(), io.StringIO()
    code = 0
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                program = Program(binary="invoke", loader_class=loader or _tasks_loader())
                program.run(["invoke", "--search-root", str(ROOT), *args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(old)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli(project: Project, runtime):
    """``cli("repo.create", "--dry-run")`` runs the task in the project's working dir."""

    def call(*args: str) -> CliResult:
        return run_cli(*args, cwd=project.workdir)

    return call


def change_lines(output: str) -> list[str]:
    """The change lines of a task's output, without the mark (``+``, ``~``, ``-``, ``-/+``) and
    in no tense (``will create SP x`` and ``created SP x`` both read ``create SP x``), so a dry
    run's lines compare with an apply's. ``creating ... ...`` lines (an apply that printed
    something before it was done) are left out."""
    from mlops_setup.changes import untold

    found = []
    for line in output.splitlines():
        mark, _, rest = line.strip().partition(" ")
        if mark in ("+", "~", "-", "-/+") and line.startswith("  ") and not rest.endswith(" ..."):
            found.append(untold(rest.strip()))
    return found


def told(line: str, *, dry_run: bool = False, kind: str = "") -> str:
    """The output line of change ``line`` (``create SP x``): ``  +   created SP x``, or
    ``  +   will create SP x`` in a dry run; the kind is the verb's unless given."""
    from mlops_setup.changes import SYMBOLS, VERBS

    verb, _, rest = line.partition(" ")
    symbol = SYMBOLS[kind or VERBS[verb][0]]
    return f"  {symbol:<3} {'will ' + verb if dry_run else VERBS[verb][1]} {rest}"


def mutating(made: list[tuple[str, str]]) -> list[str]:
    """``METHOD URI`` of every mutating request in ``made`` (what the ``http`` fixture gives)."""
    return [f"{m} {u}" for m, u in made if m not in ("GET", "HEAD")]


@dataclass
class Exchange:
    """One HTTP exchange of a test, the same in either mode."""

    method: str
    uri: str
    body: Any  # the request's JSON (None without a body)
    status: int
    answer: Any  # the response's JSON (None without a body)


def _json(text: Any) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def exchanges_of(vcr_or_api) -> list[Exchange]:
    """Every exchange, in the order the code sent them (compose: the fake's log; replay: the
    order the cassette's entries were played in)."""
    if vcr_or_api is None:
        return []
    if isinstance(vcr_or_api, FakeAPI):
        pairs = vcr_or_api.interactions
        return [
            Exchange(
                q["method"],
                q["uri"],
                _json(q["body"]),
                r["status"]["code"],
                _json(r["body"]["string"]),
            )
            for q, r in pairs
        ]
    return [
        Exchange(q.method, q.uri, _json(q.body), r["status"]["code"], _json(r["body"]["string"]))
        for q, r in getattr(vcr_or_api, "played_in_order", [])
    ]


def requests_made(vcr_or_api) -> list[tuple[str, str]]:
    """(method, uri) of each request, in the order the code sent them."""
    return [(e.method, e.uri) for e in exchanges_of(vcr_or_api)]


@pytest.fixture(autouse=True)
def replay_order(vcr, git_effects):
    """Remember the order requests are played in: vcrpy serves the first unplayed match, so the
    cassette's order says nothing about the order the code sent them in."""
    if vcr is not None:
        vcr.played_in_order = []
        original = vcr.play_response

        def play_response(request):
            response = original(request)
            vcr.played_in_order.append((request, response))
            return response

        vcr.play_response = play_response
    return vcr


@pytest.fixture
def exchanges(vcr, fake_api, replay_order):
    """``exchanges()`` -> [Exchange] of this test so far, in either mode."""
    return lambda: exchanges_of(fake_api if fake_api is not None else vcr)


@pytest.fixture
def http(request: pytest.FixtureRequest, vcr, fake_api, replay_order):
    """The HTTP exchanges of this test, in either mode: ``http()`` -> [(method, uri)]."""

    def made() -> list[tuple[str, str]]:
        return requests_made(fake_api if fake_api is not None else vcr)

    return made


def edit_keeping_stat(path: Path, old: str, new: str) -> None:
    """Edit ``path`` in place, to a text of the same length, and put its times back: to
    ``stat`` it is the file it was (same size, same mtime to the nanosecond, same inode)."""
    before = path.stat()
    text = path.read_text()
    assert old in text and len(old) == len(new)
    path.write_text(text.replace(old, new))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
