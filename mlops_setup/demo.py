"""``invoke demo``: the whole runbook, offline, on the bundled example project.

What is real: the tool's code, git (against a local bare repository standing in for the GitHub
remote), the config loader, the output. What is replayed: every GitHub and Databricks API call,
from the cassette ``tests/cassettes/test_demo/test_demo.yaml`` (composed from the public API
references; see the README), which ships in the package (``mlops_setup/data/demo/``) so that
an installed ``mlops-setup demo`` plays it too; ``--cloud azure`` plays
``test_demo_azure.yaml`` instead (Entra ID apps and client secrets, Microsoft Graph
replayed), ``--auth oidc`` ``test_demo_oidc.yaml``. The runbook's recorded runs come from the
``_previews`` variants, which hold each step's dry run too (:func:`run_demo`). No credentials
are read: the demo sets fake ones in its own process, and ignores ``~/.databrickscfg`` and the
operator's own mlops-setup config.

The demo pins the clock, the git author and the commit dates, so its commits have the same SHAs
as when the cassette was made; and it never sleeps (waits are replayed polls).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invoke import Exit, task

CASSETTE = "test_demo.yaml"
CLOUDS = ("aws", "azure")  # the variants with a recorded demo
AUTHS = ("token", "oidc")  # ci.auth_mode variants with a recorded demo (oidc: aws only)


def cassette_for(cloud: str, auth: str = "token", *, previews: bool = False) -> str:
    """The recorded run of a variant: ``test_demo[_CLOUD][_AUTH][_previews].yaml``. The demo
    plays the runs alone (these ship in the package); the ``_previews`` recordings, each step's
    dry run then its run, are the runbook's (they stay in ``tests/cassettes/test_demo/``)."""
    name = "test_demo" + (f"_{cloud}" if cloud != "aws" else "")
    name += (f"_{auth}" if auth != "token" else "") + ("_previews" if previews else "")
    return f"{name}.yaml"


NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
PROJECT = "my-mlops-project"  # the root folder: the template names it after the project

# Stand-ins, not credentials: they only satisfy the clients' "is auth configured" checks.
DEMO_ENV = {
    "GITHUB_TOKEN": "demo-github-token",
    "DATABRICKS_TOKEN": "demo-databricks-token",
    "WORKFLOW_TOKEN": "demo-workflow-pat",
    "GIT_AUTHOR_NAME": "Platform Engineer",
    "GIT_AUTHOR_EMAIL": "platform@example.com",
    "GIT_AUTHOR_DATE": "2026-03-02T09:00:00+00:00",
    "GIT_COMMITTER_NAME": "Platform Engineer",
    "GIT_COMMITTER_EMAIL": "platform@example.com",
    "GIT_COMMITTER_DATE": "2026-03-02T09:00:00+00:00",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    # git's housekeeping, which finds nothing to do in a repository this young: no
    # `git maintenance run --auto` after each commit, fetch and merge; a fetch keeps the pack
    # it receives (as the stand-in upstream does, replay.init_upstream)
    "GIT_CONFIG_COUNT": "2",
    "GIT_CONFIG_KEY_0": "maintenance.auto",
    "GIT_CONFIG_VALUE_0": "false",
    "GIT_CONFIG_KEY_1": "fetch.unpackLimit",
    "GIT_CONFIG_VALUE_1": "1",
}


def demo_config(root: Path, upstream: Path) -> dict[str, Any]:
    """The demo's settings: config/example.yaml (shipped), pointed at the temporary project."""
    import yaml

    from .locate import EXAMPLE_CONFIG, resource

    data = yaml.safe_load(resource(EXAMPLE_CONFIG).read_text(encoding="utf-8"))
    data.setdefault("project", {})["dir"] = str(root)
    data.setdefault("github", {})["git_url"] = str(upstream)
    return data


@contextlib.contextmanager
def demo_environment(
    workdir: Path, *, with_cicd: bool = True, cloud: str = "aws", auth: str = "token"
) -> Iterator[Path]:
    """Example project + bare upstream + config in ``workdir``; fake env; returns workdir."""
    import yaml

    from .example import write_example_project

    root = write_example_project(workdir / PROJECT, with_cicd=with_cicd, cloud=cloud)
    from .replay import init_upstream

    upstream = workdir / "upstream.git"
    init_upstream(upstream)
    config = demo_config(root, upstream)
    if auth != "token":
        config.setdefault("ci", {})["auth_mode"] = auth
    (workdir / "mlops-setup.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("DATABRICKS_", "GITHUB_", "GH_", "MLOPS_SETUP_", "GIT_")):
            del os.environ[name]
    os.environ.update(DEMO_ENV)
    os.environ["DATABRICKS_CONFIG_FILE"] = str(workdir / "no-databrickscfg")
    os.environ["XDG_CONFIG_HOME"] = str(workdir / "no-user-config")  # the operator's own file
    try:
        yield workdir
    finally:
        os.environ.clear()
        os.environ.update(saved)


def cassettes() -> Path:
    """The folder of the demo's recorded run, as shipped in the package."""
    from .locate import DEMO_CASSETTES, resource

    return resource(DEMO_CASSETTES)


def demo_steps() -> list[Any]:
    """Every step the demo runs: the whole guide, in the order ``setup.all`` runs it."""
    from .guide import guide_steps

    return guide_steps()


@dataclass
class Transcript:
    """What one step printed in the demo: its dry run (``plan``) or its run (``apply``)."""

    step: str
    phase: str
    text: str
    options: dict[str, Any] = field(default_factory=dict)


def run_demo(
    workdir: Path,
    *,
    cassette_dir: Path | None = None,
    replay: bool = True,
    transcript: list[Transcript] | None = None,
    cloud: str = "aws",
    auth: str = "token",
    previews: bool = False,
) -> int:
    """Run every step in ``workdir`` (see :func:`demo_environment`), as ``setup.all`` does,
    and show each once. With ``previews``, each step's dry run comes first, as an operator
    previewing each step would run it, and is shown too where it says something the run does
    not (:func:`preview_adds`). Every block of output, both phases, is appended to
    ``transcript`` if given (the runbook embeds these). Returns the exit code.

    The run explains a thing once (:class:`~mlops_setup.changes.Once`: the project summary's
    note on the template's bare batch input table, then one line in each step that meets it),
    as ``setup.all`` does; with ``previews``, each phase of each step starts afresh
    (``RUN.forget``), so that a recorded run is what the command alone prints, in full.

    A replay must make the requests its recording made, in that order: vcrpy answers each with
    the first recorded answer to it not yet played, so a replay that left out the previews of
    a recording made with them would hand their answers to later reads (a secrets listing
    from before ``ci.secrets`` wrote them, answering ``ci.auth``'s check after it). Hence two
    recordings (:func:`cassette_for`): ``invoke demo`` plays one made without previews, the
    runbook one made with them; ``tests/test_demo.py`` checks that no preview there says
    more than its run, and that the demo prints what the runbook records."""
    import io
    import sys

    from .backoff import RecordingSleep
    from .changes import Tally
    from .console import DEMO_WIDTH, RUN, Console
    from .guide import options_for
    from .session import Runtime, load_session, run_in_session, use_runtime

    color = Console(sys.stdout).color
    cassette_dir = cassette_dir or cassettes()
    # replayed: every host is the recorded one, so the first contact answers "reachable"
    runtime = Runtime(
        sleep=RecordingSleep(),
        now=lambda: NOW,
        cwd=str(workdir),
        probe=lambda *_, **__: None,
        azure_credential=_graph_stand_in() if cloud == "azure" else None,
    )
    name = cassette_for(cloud, auth, previews=previews)
    player = _player(cassette_dir, replay, workdir / "upstream.git", name)
    phases = ("plan", "apply") if previews else ("apply",)
    total = Tally()
    RUN.reset()  # a run of its own: nothing explained yet
    with use_runtime(runtime), player:
        session = load_session()
        try:
            _inspect(session, transcript, color)
            for step in demo_steps():
                options = options_for(step)
                shown: dict[str, str] = {}
                try:
                    for phase in phases:
                        if previews:  # each recorded run as the command alone prints it
                            RUN.forget()
                        buffer = io.StringIO()
                        session.out = Console(
                            stream=buffer, err=buffer, width=DEMO_WIDTH, color=False
                        )
                        try:
                            done = run_in_session(session, step, dry_run=phase == "plan", **options)
                            if phase == "apply":
                                total += done.tally
                        finally:
                            shown[phase] = buffer.getvalue()
                            if transcript is not None:
                                transcript.append(
                                    Transcript(step.name, phase, shown[phase], options)
                                )
                finally:
                    _echo(shown, color)
            # the whole guide's count, as `setup.all` closes (its own words for no changes too)
            Console(sys.stdout, color=color, width=DEMO_WIDTH).summary(
                "setup.all", total, dry_run=False
            )
        finally:
            session.close()
    return 0


def _graph_stand_in() -> Any:
    """A stand-in, not a credential: Microsoft Graph is replayed (Azure only)."""
    from .entra import StaticCredential

    return StaticCredential("demo-graph-token")


def _inspect(session: Any, transcript: list[Transcript] | None, color: bool) -> None:
    """What the tool read from the example project, before any step: one screen's worth
    (:func:`project_summary`, from the settings the session already holds). The runbook records
    the whole ``setup.inspect`` (every fact with its source), computed only for it."""
    import io

    from .console import DEMO_WIDTH, Console

    buffer = io.StringIO()
    project_summary(session.settings.model, Console(stream=buffer, width=DEMO_WIDTH, color=False))
    _echo({"apply": buffer.getvalue()}, color)
    if transcript is not None:
        from .guide import inspect_report, show_inspect

        full = io.StringIO()
        doc, rows = inspect_report(None)
        show_inspect(doc, rows, Console(stream=full, err=full, width=DEMO_WIDTH, color=False))
        transcript.append(Transcript("setup.inspect", "apply", full.getvalue(), {}))


def project_summary(model: Any, out: Any) -> None:
    """The facts ``setup.inspect`` shows, in four lines, then its notes."""
    from .console import DEMO_WIDTH

    doc = model.to_json()
    out.header("setup.inspect", f"the generated project in {PROJECT}")
    jobs = sum(len(names) for names in doc["jobs"].values())
    hosts = (str(host).removeprefix("https://") for host in doc["workspaces"].values())
    out.info(
        f"project {doc['project_name']} (folder {doc['project_folder']}): {doc['setup_mode']}, "
        f"{doc['cloud']}, {doc['cicd_platform']}"
    )
    out.info(
        f"branches {doc['default_branch']}, {doc['release_branch']}; catalogs "
        f"{', '.join(dict.fromkeys(doc['catalogs'].values()))}; schema {doc['schema']}"
    )
    out.info(f"workspaces {', '.join(hosts)}")
    secrets = ", ".join(doc["secrets"])
    line = f"model {doc['model_name']}, {jobs} jobs, {len(doc['workflows'])} workflows"
    if len(line) + len(secrets) + 12 > DEMO_WIDTH - 2:
        secrets = f"{len(doc['secrets'])} secrets"
    out.info(f"{line}; CI reads {secrets}")
    for note in doc["notes"]:
        out.note(_explains(model, doc, note))
    out.info("`invoke setup.inspect` shows every fact and the file it comes from")


def _explains(model: Any, doc: dict[str, Any], note: str) -> str:
    """``note`` as the :class:`~mlops_setup.changes.Once` it is when it explains the template's
    bare batch input table: the steps that meet that table again then refer back to it."""
    from .changes import Once, bare_input_key

    resources = model.batch_resource()
    for tables in doc["batch_inference"].values():
        table = tables.get("input_table", "")
        if table and table.count(".") != 2 and f"reads {table!r}" in note:
            return Once(note, key=bare_input_key(table, resources), again=note)
    return note


def preview_adds(preview: str, run: str) -> bool:
    """Whether a step's preview says something its run does not: a change or a warning other
    than the run's, once ``will create`` reads ``created`` and the closing count is left out.
    A preview's notes (``>``: what the apply will do, such as wait for a queued run) and the
    facts it found right (``ok``) are what the run then shows happening, so they add nothing."""
    from .changes import untold

    def lines(text: str) -> set[str]:
        body: list[str] = []
        for line in text.splitlines()[1:-1]:  # no header, no closing count
            if line.startswith("      ") and body:  # a wrapped line: join it to its start
                body[-1] += " " + line.strip()
            else:
                body.append(line)
        out = set()
        for line in body:
            mark, _, rest = line.strip().partition(" ")
            if mark in ("+", "~", "-", "-/+"):
                out.add(f"{mark} {untold(rest.strip())}")
            elif mark not in (">", "ok", ".."):
                out.add(line)
        return out

    return bool(lines(preview) - lines(run))


def _echo(shown: dict[str, str], color: bool) -> None:
    """Print a step's run, after its preview where that adds something (or where the run
    never came); in colour if wanted."""
    import sys

    preview, run = shown.get("plan", ""), shown.get("apply", "")
    text = run if run and not preview_adds(preview, run) else preview + run
    sys.stdout.write(_colored(text) if color else text)
    sys.stdout.flush()


def _colored(text: str) -> str:
    """Plain lines of a step as a terminal would show them (the gutter marks in colour)."""
    from .console import _COLORS

    out = []
    for line in text.splitlines(keepends=True):
        mark = line[2:6].strip() if line.startswith("  ") else ""
        code = _COLORS.get(mark)
        if line.startswith("== "):
            out.append(f"\x1b[1m{line.rstrip()}\x1b[0m\n")
        elif code and line[2:6].rstrip() == mark:
            out.append(f"  \x1b[{code}m{line[2:5]}\x1b[0m{line[5:]}")
        else:
            out.append(line)
    return "".join(out)


@contextlib.contextmanager
def _player(
    cassette_dir: Path, replay: bool, upstream: Path, name: str = CASSETTE
) -> Iterator[None]:
    if not replay:
        yield
        return
    from . import replay as replay_mod

    if not (cassette_dir / name).exists():
        raise Exit(f"demo: the recorded run {cassette_dir / name} is missing", code=1)
    with replay_mod.make_vcr(str(cassette_dir)).use_cassette(name) as cassette:
        replay_mod.index_cassette(cassette)  # look-ups by route, not a scan of ~100 requests
        effects = replay_mod.GitEffects.load(str(cassette_dir / name), str(upstream))
        if effects is not None:
            effects.attach(cassette)
        yield


@task(
    help={
        "cloud": "the example project's cloud: aws (default) or azure (Entra ID apps and "
        "client secrets)",
        "auth": "ci.auth_mode: token (default) or oidc (GitHub OIDC federation: no Databricks "
        "secret in GitHub; aws only)",
    }
)
def demo(c, cloud="aws", auth="token"):
    """Run the whole guide offline on the example project (replayed APIs, real git)."""
    from .session import failures_as_exit

    if cloud not in CLOUDS:
        raise Exit(f"demo: --cloud must be one of {', '.join(CLOUDS)}, not {cloud!r}", code=2)
    if auth not in AUTHS or (auth != "token" and cloud != "aws"):
        raise Exit(
            f"demo: --auth must be one of {', '.join(AUTHS)} (oidc with --cloud aws), not {auth!r}",
            code=2,
        )
    _keep_httpx_out()
    _freeze_libraries()
    with tempfile.TemporaryDirectory(prefix="mlops-setup-demo-") as tmp:
        print(f"demo: example project {PROJECT} in a temporary folder; APIs replayed, git real")
        with demo_environment(Path(tmp), cloud=cloud, auth=auth) as workdir, failures_as_exit():
            run_demo(workdir, cloud=cloud, auth=auth)
        print("demo: done; nothing outside the temporary folder was touched")


def _freeze_libraries() -> None:
    """Import the client libraries every step uses, then hide what is loaded from the garbage
    collector (:func:`gc.freeze`). Their modules and classes, about a million objects, never
    become garbage, yet each full collection the demo triggers would walk them all again:
    some 0.2 s of CPU for the cassette's load alone. Only in the ``demo`` task's own process
    (the runbook's recording and the tests call :func:`run_demo`, and keep a normal heap).
    The collector is off while they load: importing them makes no garbage to collect."""
    import gc

    gc.disable()
    try:
        import databricks.sdk  # noqa: F401
        import github  # noqa: F401
    finally:
        gc.enable()
    gc.freeze()


def _keep_httpx_out() -> None:
    """Keep vcrpy from importing httpx, for the rest of the ``demo`` task's process. vcrpy
    patches every HTTP client it can import, and importing httpx imports its command line too
    (click, rich, pygments): some 130 ms, for a client nothing here uses (both SDKs speak
    ``requests``). For good, not just while replaying: vcrpy notes at its own import which
    clients it found, and a vcrpy that was imported without httpx fails on an httpx that
    appears later. So only in the task's own process, and only if neither is imported yet
    (the tests and the runbook's recording call :func:`run_demo` and keep both)."""
    import sys

    if "httpx" not in sys.modules and "vcr" not in sys.modules:
        sys.modules["httpx"] = None  # type: ignore[assignment]  # `import httpx` fails
