"""``invoke demo``: the whole runbook, offline, on the bundled example project.

What is real: the tool's code, git (against a local bare repository standing in for the GitHub
remote), the config loader, the output. What is replayed: every GitHub and Databricks API call,
from the cassette ``tests/cassettes/test_demo/test_demo.yaml`` (composed from the public API
references; see the README), which ships in the package (``mlops_setup/data/demo/``) so that
an installed ``mlops-setup demo`` plays it too; ``--cloud azure`` plays
``test_demo_azure.yaml`` instead (Entra ID apps and client secrets, Microsoft Graph
replayed). No credentials are read: the demo sets fake ones in its own process, and ignores
``~/.databrickscfg`` and the operator's own mlops-setup config.

The demo pins the clock, the git author and the commit dates, so its commits have the same SHAs
as when the cassette was made; and it never sleeps (waits are replayed polls).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invoke import Exit, task

CASSETTE = "test_demo.yaml"
CLOUDS = ("aws", "azure")  # the variants with a recorded demo
AUTHS = ("token", "oidc")  # ci.auth_mode variants with a recorded demo (oidc: aws only)


def cassette_for(cloud: str, auth: str = "token") -> str:
    if auth != "token":
        return f"test_demo_{auth}.yaml"
    return CASSETTE if cloud == "aws" else f"test_demo_{cloud}.yaml"


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
    upstream = workdir / "upstream.git"
    subprocess.run(
        ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(upstream)], check=True
    )
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
) -> int:
    """Run every step in ``workdir`` (see :func:`demo_environment`): first its dry run, then the
    real thing, as an operator would. Each step is shown once, the run; its preview too where
    it says something the run does not (:func:`preview_adds`). Every block of output, both
    phases, is appended to ``transcript`` if given (the runbook embeds these). Returns the
    exit code."""
    import io
    import sys

    from .backoff import RecordingSleep
    from .console import DEMO_WIDTH, Console
    from .entra import StaticCredential
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
        # a stand-in, not a credential: Microsoft Graph is replayed (Azure only)
        azure_credential=StaticCredential("demo-graph-token"),
    )
    player = _player(cassette_dir, replay, workdir / "upstream.git", cassette_for(cloud, auth))
    with use_runtime(runtime), player:
        session = load_session()
        try:
            _inspect(transcript, color)
            for step in demo_steps():
                options = options_for(step)
                shown: dict[str, str] = {}
                try:
                    for phase in ("plan", "apply"):
                        buffer = io.StringIO()
                        session.out = Console(
                            stream=buffer, err=buffer, width=DEMO_WIDTH, color=False
                        )
                        try:
                            run_in_session(session, step, dry_run=phase == "plan", **options)
                        finally:
                            shown[phase] = buffer.getvalue()
                            if transcript is not None:
                                transcript.append(
                                    Transcript(step.name, phase, shown[phase], options)
                                )
                finally:
                    _echo(shown, color)
        finally:
            session.close()
    return 0


def _inspect(transcript: list[Transcript] | None, color: bool) -> None:
    """What the tool reads from the example project (``setup.inspect``), before any step."""
    import io

    from .console import DEMO_WIDTH, Console
    from .guide import inspect_report, show_inspect

    buffer = io.StringIO()
    doc, rows = inspect_report(None)
    show_inspect(doc, rows, Console(stream=buffer, err=buffer, width=DEMO_WIDTH, color=False))
    if transcript is not None:
        transcript.append(Transcript("setup.inspect", "apply", buffer.getvalue(), {}))
    _echo({"apply": buffer.getvalue()}, color)


def preview_adds(preview: str, run: str) -> bool:
    """Whether a step's preview says something its run does not: a line other than the run's,
    once ``will create`` reads ``created`` and the closing count is left out."""
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
            out.add(f"{mark} {untold(rest.strip())}" if mark in ("+", "~", "-", "-/+") else line)
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
    with tempfile.TemporaryDirectory(prefix="mlops-setup-demo-") as tmp:
        print(f"demo: example project {PROJECT} in a temporary folder; APIs replayed, git real")
        with demo_environment(Path(tmp), cloud=cloud, auth=auth) as workdir, failures_as_exit():
            run_demo(workdir, cloud=cloud, auth=auth)
        print("demo: done; nothing outside the temporary folder was touched")
