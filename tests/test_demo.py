"""The offline demo: the whole runbook on the example project, APIs replayed, git real."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mlops_setup import demo
from mlops_setup.console import DEMO_WIDTH, RUN, Console
from tests.conftest import FAKE_VALUES, ROOT
from tests.fakeapi import github_pulls

MODES = {"aws": ("aws", "token"), "azure": ("azure", "token"), "oidc": ("aws", "oidc")}


def demo_world(world, tmp_path, cloud: str = "aws", auth: str = "token") -> None:
    """What the fake API starts from when a demo cassette is composed (--compose)."""
    from tests.fakeapi import graph_apps

    world.gh["git_dir"] = str(tmp_path / "upstream.git")
    if cloud == "azure":
        graph_apps.azure_workspaces(world)
    # the ML code PR runs the project's pull_request workflows: bundle-ci, run-tests; under
    # oidc bundle-ci's prod job runs on the release branch only
    checks = [("staging", "success"), ("prod", "success")]
    if auth == "oidc":
        checks = checks[:1]
    checks += [("unit_tests", "success"), ("integration_test", "success")]
    github_pulls.set_checks(world, "add-ml-code", checks, pending=2)


def play(folder, capsys, mode: str, *, previews: bool = False, **player) -> tuple[str, list]:
    """One run of the demo in ``folder`` (``player``: run_demo's cassette options); what it
    printed and, with previews, its transcript."""
    cloud, auth = MODES[mode]
    entries: list[demo.Transcript] = []
    with demo.demo_environment(folder, cloud=cloud, auth=auth) as workdir:
        code = demo.run_demo(
            workdir,
            cloud=cloud,
            auth=auth,
            previews=previews,
            transcript=entries if previews else None,
            **player,
        )
    assert code == 0
    return capsys.readouterr().out, entries


def run_recorded(tmp_path, capsys, world, mode: str, *, previews: bool = False):
    """Compose (--compose) or replay a demo cassette (pytest-recording's, named after the
    test); returns what it printed and the transcript."""
    demo_world(world, tmp_path, *MODES[mode])
    out, entries = play(tmp_path, capsys, mode, previews=previews, replay=False)
    for step in demo.demo_steps():
        assert f"== {step.name}: " in out
    assert "error" not in out.lower()
    assert not any(v in out for v in FAKE_VALUES)
    return out, entries


@pytest.mark.vcr
def test_demo(tmp_path, capsys, clean_env, world):
    """Composes (--compose) or replays the cassette that `invoke demo` plays."""
    out, _ = run_recorded(tmp_path, capsys, world, "aws")
    # the template's bare input table: one warning a step for both targets, not one each;
    # explained once, by the project's summary, then one line a step referring back to it
    assert out.count("(a TODO the template leaves)") == 1
    assert "the batch inference job\n      reads 'taxi_scoring_sample' in staging and prod" in out
    grants = out.split("== ci.permissions: ")[1].split("\n== ")[0]
    assert "taxi_scoring_sample" not in grants.replace(
        "!   batch input table 'taxi_scoring_sample' (staging, prod): SELECT not granted, see "
        "above\n",
        "",
        1,
    )
    jobs = out.split("== deploy.jobs: ")[1].split("\n== ")[0]
    assert jobs.count("!   ") == 1
    assert (
        "!   batch inference jobs (staging, prod) will fail when they run (daily at 11:00 UTC): "
        "see above\n"
    ) in jobs


@pytest.mark.vcr
def test_demo_azure(tmp_path, capsys, clean_env, world):
    """The cassette `invoke demo --cloud azure` plays: Entra ID apps, their client secrets."""
    out, _ = run_recorded(tmp_path, capsys, world, "azure")
    for env in ("staging", "prod"):
        assert f"+   created Entra app {env}-my-mlops-project (tagged)" in out
        assert f"+   added client secret to app {env}-my-mlops-project" in out
        for key in ("CLIENT_SECRET", "TENANT_ID", "APPLICATION_ID"):
            assert f"+   set secret {env.upper()}_AZURE_SP_{key}" in out
    assert "WORKSPACE_TOKEN" not in out


@pytest.mark.vcr
def test_demo_oidc(tmp_path, capsys, clean_env, world):
    """The cassette `invoke demo --auth oidc` plays: federation policies, GitHub environments
    (prod: the release branch only), the client ids as variables; the ML code PR carries the
    workflows already rewritten for oidc, so its checks are their first proof and ci.auth has
    nothing left to do. No Databricks secret reaches GitHub."""
    out, _ = run_recorded(tmp_path, capsys, world, "oidc")
    for env in ("staging", "prod"):
        assert (
            f"+   created federation policy github-actions-{env} of SP {env}-my-mlops-project"
            in out
        )
        assert f"+   created variable {env.upper()}_DATABRICKS_CLIENT_ID" in out
    assert "+   added deployment branch policy release to GitHub environment prod" in out
    assert "~   updated .github/workflows/my-mlops-project-bundle-cd-prod.yml for oidc" in out
    assert "ok  the workflows on main authenticate with oidc" in out
    # the one secret stored is the GitHub PAT deploy-cicd.yml checks out with
    assert "+   set secret WORKFLOW_TOKEN" in out
    assert "set secret STAGING_WORKSPACE_TOKEN" not in out and "mint" not in out


def check_previews(entries: list[demo.Transcript]) -> None:
    """Each step previewed, then run; no preview says what its run does not (so the demo,
    which shows the runs alone, leaves nothing out)."""
    steps = [step.name for step in demo.demo_steps()]
    entries = [e for e in entries if e.step != "setup.inspect"]
    assert [(e.step, e.phase) for e in entries] == [
        (step, phase) for step in steps for phase in ("plan", "apply")
    ]
    for preview, run in zip(entries[::2], entries[1::2], strict=True):
        assert not demo.preview_adds(preview.text, run.text), (preview.text, run.text)


@pytest.mark.vcr
def test_demo_previews(tmp_path, capsys, clean_env, world):
    """The runbook's recording: each step's dry run, then its run (docs.refresh embeds them)."""
    check_previews(run_recorded(tmp_path, capsys, world, "aws", previews=True)[1])


@pytest.mark.vcr
def test_demo_azure_previews(tmp_path, capsys, clean_env, world):
    check_previews(run_recorded(tmp_path, capsys, world, "azure", previews=True)[1])


@pytest.mark.vcr
def test_demo_oidc_previews(tmp_path, capsys, clean_env, world):
    check_previews(run_recorded(tmp_path, capsys, world, "oidc", previews=True)[1])


# The README's first command runs the installed console script (as pip writes it); a clone's
# contributors run `invoke demo`. Both from a folder outside the repository.
CONSOLE_SCRIPT = "import sys\nfrom mlops_setup.cli import main\nsys.argv[0] = 'mlops-setup'\nmain()"


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-c", CONSOLE_SCRIPT, "demo"],
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "demo"],
    ],
    ids=["mlops-setup", "invoke"],
)
def test_demo_runs_offline_from_a_fresh_process(tmp_path, command):
    """As a newcomer runs it (network blocked by the cassette), leaving the folder empty."""
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "demo: done" in done.stdout
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())
    lines = done.stdout.splitlines()
    # each step once (no preview here says more than its run), after the project's summary
    headers = [line for line in lines if line.startswith("== ")]
    assert len(headers) == len(demo.demo_steps()) + 1, headers  # + setup.inspect
    assert max(len(line) for line in lines) <= 100
    assert len(lines) <= 112  # README, "Benchmark": where the lines go
    assert "\x1b[" not in done.stdout  # a pipe gets plain text


def test_a_preview_adds_only_what_the_run_does_not_say():
    preview = "== s: t ==\n  +   will create SP x (in the\n      account)\ns: 1 to add\n"
    run = "== s: t ==\n  +   created SP x (in the account)\ns: 1 added\n"
    assert not demo.preview_adds(preview, run)
    noted = "== s: t ==\n  >   run #1 is queued: an apply waits for it\ns: no changes\n"
    assert not demo.preview_adds(noted, "== s: t ==\n  ..  run #1: queued\ns: no changes\n")
    warned = "== s: t ==\n  !   the table is missing\ns: no changes\n"
    assert demo.preview_adds(warned, "== s: t ==\n  ok  run #1 succeeded\ns: no changes\n")
    assert not demo.preview_adds(warned, warned.replace("no changes", "1 added"))


@pytest.mark.parametrize("mode", list(MODES))
def test_the_demo_prints_the_runs_the_runbook_records(tmp_path, capsys, clean_env, mode):
    """`invoke demo` (a recording of the runs alone) shows what the recording with previews
    holds for each step's run: the two recordings tell the same story."""
    cassettes = ROOT / "tests" / "cassettes" / "test_demo"
    (tmp_path / "recorded").mkdir()
    (tmp_path / "alone").mkdir()
    _, entries = play(tmp_path / "recorded", capsys, mode, previews=True, cassette_dir=cassettes)
    alone, _ = play(tmp_path / "alone", capsys, mode, cassette_dir=cassettes)
    assert " which the repo does not have" not in alone  # every read answered in its turn
    runs = [e.text for e in entries if e.phase == "apply" and e.step != "setup.inspect"]
    assert len(runs) == len(demo.demo_steps())
    total = alone.splitlines()[-1]
    assert total.startswith("setup.all: ") and total.endswith(" destroyed")  # as setup.all ends
    # a run of several steps explains a thing once and refers back to it after that
    # (changes.Once); a recorded run is what its step prints alone, so it says it in full
    recorded = "".join(runs)
    assert RUN.repeated  # the template's bare input table: ci.permissions, deploy.jobs
    for mark, once in RUN.repeated:
        full, again = (shown(mark, text) for text in (str(once), once.again))
        assert len(again.splitlines()) == 1 and full in recorded, (full, recorded)
        recorded = recorded.replace(full, again, 1)
    assert alone.removesuffix(total + "\n").endswith(recorded)


def shown(mark: str, text: str) -> str:
    """``text`` as the demo prints a warning (``!``) or a note (``>``)."""
    import io

    out = io.StringIO()
    console = Console(stream=out, width=DEMO_WIDTH, color=False)
    {"!": console.warning, ">": console.note}[mark](text)
    return out.getvalue()
