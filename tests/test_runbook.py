"""The runbook site: its console blocks are doctests, its generated regions are fresh, it builds.

* Every ```` ```console ```` block of ``runbook/*.md`` is parsed by Sybil; each ``$ command`` in
  it is re-run through :class:`mlops_setup.docs.Runner` (``invoke --help`` and ``--list``
  in-process, step runs from one replay of the demo per session) and compared.
* Every page is what ``invoke docs.refresh`` would write: a changed help text, a changed step
  output, a new task or a new demo step fails here with a diff and the command that fixes it.
* The site builds with ``mkdocs build --strict`` and every runbook link in the code resolves.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sybil import Document
from sybil.parsers.markdown import CodeBlockParser

from mlops_setup import docs
from tests.conftest import ROOT, run_cli

RUNBOOK = ROOT / "runbook"
PAGES = sorted(p.name for p in RUNBOOK.glob("*.md"))
# Links that error messages print (``see: runbook/ci.md#secrets``); they must keep working even
# before the code that prints them lands.
REQUIRED_ANCHORS = {
    "index.md": {"configure", "authentication", "install", "two-ways-to-run"},
    "ci.md": {
        "prerequisites",
        "service-principals",
        "permissions",
        "secrets",
        "workflow-permissions",
        "workflows",
    },
}


def _evaluate(example) -> str | None:
    where = f"runbook/{Path(example.path).name}:{example.line}"
    return docs.check_console(str(example.parsed), example.namespace["runner"], where)


PARSER = CodeBlockParser(language="console", evaluator=_evaluate)


def _examples(page: str) -> list:
    return list(Document.parse(str(RUNBOOK / page), PARSER))


EXAMPLES = [
    pytest.param(example, id=f"{page}:{example.line}")
    for page in PAGES
    for example in _examples(page)
]


# the demos the pages show (`$ invoke demo ...`): replayed once for the workers (see runner)
DEMO_COMMANDS = sorted(
    {
        line.removeprefix("$ ")
        for example in EXAMPLES
        for line in str(example.values[0].parsed).splitlines()
        if line.startswith("$ invoke demo")
    }
)


@pytest.fixture(scope="session")
def runner(tmp_path_factory, worker_id) -> docs.Runner:
    """One Runner for the session: one demo replay, each help captured once.

    Under pytest-xdist the workers share that replay: the first to need it makes it and leaves
    it in the run's temporary folder (shared by the workers, new for each run), the others read
    it, under a lock. The Runner's process memo (:data:`docs.REPLAYS`) then serves the
    ``docs.build`` the site test runs too."""
    made = docs.Runner(ROOT)
    if worker_id == "master":
        return made
    import fcntl
    import json

    key = docs.replay_key(ROOT)
    shared = tmp_path_factory.getbasetemp().parent / "runbook-replay.json"
    with open(shared.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if shared.exists():
            found = json.loads(shared.read_text())
            if found["key"] == json.loads(json.dumps(key)):  # made from these recordings
                runs = found["replayed"]["runs"]
                docs.REPLAYS[key] = {
                    "runs": {step: [tuple(r) for r in rs] for step, rs in runs.items()},
                    "outputs": found["replayed"]["outputs"],
                }
        made.runs  # noqa: B018 (the replay, made or read)
        for command in DEMO_COMMANDS:
            made.output(command)
        shared.write_text(json.dumps({"key": key, "replayed": docs.REPLAYS[key]}))
    return made


@pytest.fixture(scope="session")
def runbook(runner) -> docs.Runbook:
    return docs.Runbook(ROOT, runner)


# ------------------------------------------------------------------------------ doctests


@pytest.mark.parametrize("example", EXAMPLES)
def test_console_block(example, runner):
    """Each `$ invoke ...` in a console block prints exactly what the block shows."""
    example.namespace["runner"] = runner
    example.evaluate()


@pytest.mark.parametrize("page", PAGES)
def test_page_is_what_docs_refresh_writes(page, runbook):
    shown = runbook.pages[page]
    fresh = runbook.refreshed(page)
    if fresh != shown:
        diff = docs.unified_diff(shown, fresh, f"runbook/{page}", "after docs.refresh")
        pytest.fail(f"runbook/{page} is out of date; {docs.REFRESH}:\n{diff}", pytrace=False)


def test_every_console_fence_is_a_doctest():
    """A fence Sybil does not take for `console` (```console title=...) would go unchecked."""
    for page in PAGES:
        text = (RUNBOOK / page).read_text()
        fences = re.findall(r"^[ \t]*```console[^\n]*$", text, re.MULTILINE)
        assert all(f.strip() == "```console" for f in fences), (page, fences)
        assert len(fences) == len(_examples(page)), page


def test_every_page_in_the_nav_has_a_doctested_console_block():
    for page in nav_pages():
        assert _examples(page), f"runbook/{page} has no console block"


def test_reference_shows_the_help_of_every_task(runner):
    reference = (RUNBOOK / "reference.md").read_text()
    missing = [n for n in runner.task_names() if f"$ invoke --help {n}\n" not in reference]
    assert not missing, f"not in runbook/reference.md: {missing}; {docs.REFRESH}"


def test_every_recorded_run_of_the_demo_is_on_a_page(runner):
    """When a step joins the demo, its preview and run appear on its page."""
    from mlops_setup.demo import demo_steps

    text = "".join((RUNBOOK / page).read_text() for page in PAGES)
    assert {s.name for s in demo_steps()} <= {c.split()[1] for c in runner.recorded}
    missing = [c for c in runner.recorded if f"$ {c}\n" not in text]
    assert not missing, f"recorded runs on no page: {missing}; {docs.REFRESH}"


def test_help_is_captured_as_invoke_prints_it_through_a_pipe(runner):
    """The in-process capture equals a real `invoke` process writing to a pipe (80 columns)."""
    for argv in (["--help", "ci.secrets"], ["--list"]):
        done = subprocess.run(
            [sys.executable, "-m", "invoke", "--search-root", str(ROOT), *argv],
            capture_output=True,
            text=True,
            check=True,
        )
        assert runner.output(" ".join(["invoke", *argv])) == docs.clean(done.stdout)


def _fresh(runner: docs.Runner) -> docs.Runner:
    """A Runner that captures help anew but reuses the session's demo replay."""
    fresh = docs.Runner(ROOT)
    fresh.__dict__["runs"] = runner.runs
    return fresh


def test_a_help_text_changed_without_refresh_fails_with_a_diff(monkeypatch, runner):
    from mlops_setup.sections import repo

    monkeypatch.setattr(repo.create, "__doc__", "Create the GitHub repo, somewhere.")
    fresh = _fresh(runner)
    example = next(e for e in _examples("repo.md") if "--help repo.create" in str(e.parsed))
    problem = docs.check_console(str(example.parsed), fresh, "runbook/repo.md")
    assert problem is not None
    assert "+  Create the GitHub repo, somewhere." in problem
    assert "-  Create the GitHub repo (private) if it does not exist." in problem
    assert "run `invoke docs.refresh`" in problem
    assert "repo.md" in docs.Runbook(ROOT, fresh).stale()


def test_a_rewritten_recording_is_replayed_anew(tmp_path):
    """The process memo of replays (docs.REPLAYS) is keyed by the recordings themselves."""
    recording = tmp_path / "tests" / "cassettes" / "test_demo" / "test_demo.yaml"
    recording.parent.mkdir(parents=True)
    recording.write_text("interactions: []\n")
    before = docs.replay_key(tmp_path)
    assert before == docs.replay_key(tmp_path)
    recording.write_text("interactions: [] \n")  # a recomposed cassette: a new key
    assert docs.replay_key(tmp_path) != before
    again = docs.replay_key(tmp_path)
    stat = recording.stat()
    recording.write_text("interactions: []#\n")  # the same size and mtime: still a new key
    os.utime(recording, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert docs.replay_key(tmp_path) != again
    assert docs.replay_key(tmp_path)[0] == str(tmp_path.resolve())


def test_a_command_the_doctests_cannot_run_is_refused(runner):
    problem = docs.check_console("$ invoke setup.all\n== setup ...\n", runner)
    assert "cannot be checked" in problem and "bash block" in problem


# ---------------------------------------------------------------------------- generation


def test_refresh_rewrites_only_the_generated_regions_and_is_idempotent(tmp_path, runner):
    shutil.copytree(RUNBOOK, tmp_path / "runbook")
    for name in ("config", "tasks.py"):  # what `file` regions and the loader read
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    docs.Runbook(tmp_path, runner).refresh()  # whatever the tree has made stale meanwhile
    page = tmp_path / "runbook" / "repo.md"
    original = page.read_text()
    emptied = docs.REGION.sub(
        lambda m: f"<!-- generated: {m['spec']} -->\n<!-- /generated -->", original
    )
    page.write_text(emptied.replace("The project needs a home", "Prose stays as written: a home"))
    assert docs.Runbook(tmp_path, runner).refresh() == ["repo.md"]
    assert page.read_text() == original.replace(
        "The project needs a home", "Prose stays as written: a home"
    )
    assert docs.Runbook(tmp_path, runner).refresh() == []


def test_a_task_added_to_a_section_appears_on_its_page(runner):
    """`section NS` picks up a task that lands before anyone writes prose for it."""
    from invoke import task

    from mlops_setup.sections import release

    @task
    def extra(c):
        """A task that just landed."""

    release.ns.add_task(extra, name="extra")
    try:
        text = docs.Runbook(ROOT, _fresh(runner)).refreshed("release.md")
    finally:
        del release.ns.tasks["extra"]
    assert "### `invoke release.extra` {#release-extra}\n\nA task that just landed." in text
    assert "$ invoke --help release.extra\n" in text


def test_a_step_that_joins_the_demo_gets_its_runs_on_its_page(runner):
    """No page edit needed: the next refresh adds the Preview and Run tabs."""
    fresh = _fresh(runner)
    preview = docs.step_command("release.branch", "plan", {"update": True})
    fresh.__dict__["runs"] = {
        **runner.runs,
        "release.branch": [
            ("plan", preview, "== release.branch: the release branch ==\n  ~   create ..."),
            ("apply", "invoke release.branch --update", "== release.branch: ...\n  +   create ..."),
        ],
    }
    text = docs.Runbook(ROOT, fresh).refreshed("release.md")
    assert preview == "invoke release.branch --dry-run --update"
    assert (
        '=== "Preview"\n\n    ```console\n    $ invoke release.branch --dry-run --update\n' in text
    )
    assert '=== "Run"\n\n    ```console\n    $ invoke release.branch --update\n' in text
    assert text.index('=== "Run"') < text.index('=== "Help"')


def test_a_task_not_built_yet_gets_a_warning_to_do_the_step_by_hand(monkeypatch, runner):
    from mlops_setup.sections import repo

    monkeypatch.setattr(repo.create, "__doc__", "Not built yet: exits with an error.")
    block = docs.Runbook(ROOT, _fresh(runner)).task_block("repo.create")
    assert '!!! warning "Not built yet"' in block
    assert "Do the step by hand as this page describes." in block


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- generated: nonsense -->\n<!-- /generated -->\n", "unknown region"),
        ("<!-- generated: task -->\n<!-- /generated -->\n", "unknown region"),
        ("<!-- generated: list -->\nno end\n", "has no pair"),
        ("<!-- generated: task no.such -->\n<!-- /generated -->\n", "there is no task"),
        ("<!-- generated: file ../etc/passwd -->\n<!-- /generated -->\n", "no such file"),
    ],
)
def test_bad_markers_are_refused(text, message, runner):
    book = docs.Runbook(ROOT, runner)
    book.pages = {"x.md": text}
    with pytest.raises(docs.DocsError, match=message):
        book.refreshed("x.md")


# --------------------------------------------------------------------------------- the site


def nav_pages() -> list[str]:
    from mkdocs.config import load_config

    config = load_config(str(ROOT / "mkdocs.yml"))

    def walk(items):
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            yield from walk(value) if isinstance(value, list) else [value]

    return list(walk(config["nav"]))


def test_nav_lists_every_page_in_the_guides_order():
    pages = nav_pages()
    assert sorted(pages) == PAGES
    sections = [p for p in pages if p not in ("index.md", "reference.md")]
    assert pages == ["index.md", *sections, "reference.md"]
    guide = ["repo.md", "ci.md", "code.md", "release.md", "deploy.md", "handoff.md"]
    assert sections == [*guide, "teardown.md"]  # the guide, then undoing it


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """`invoke docs.build` (mkdocs build --strict) into a temporary folder."""
    target = tmp_path_factory.mktemp("site")
    result = run_cli("docs.build", "--site-dir", str(target))
    assert result.code == 0, result.out[-2000:] + result.err[-2000:]
    return target


def _ids(html: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html.read_text()))


def test_site_builds_strict_with_every_page(site):
    for page in PAGES:
        assert (site / page.replace(".md", ".html")).exists(), page
    assert (site / "search" / "search_index.json").exists()


def test_site_searches_offline(site):
    """Opened from disk (file://), a browser fetches nothing: the search index must be a script
    the pages load, and links must name .html files (mkdocs-material's offline plugin)."""
    assert (site / "search" / "search_index.js").read_text().startswith("var __index")
    assert 'href="repo.html"' in (site / "index.html").read_text()


def test_runbook_links_in_the_code_resolve(site):
    """`page="ci.md#secrets"` in an error message is a page and a heading of the site."""
    wanted = {page: set(anchors) for page, anchors in REQUIRED_ANCHORS.items()}
    link = re.compile(r"""["'](?:runbook/)?([a-z_-]+\.md)(?:#([a-z0-9_-]+))?["']""")
    for source in sorted((ROOT / "mlops_setup").rglob("*.py")):
        for page, anchor in link.findall(source.read_text()):
            wanted.setdefault(page, set())
            if anchor:
                wanted[page].add(anchor)
    for page, anchors in sorted(wanted.items()):
        html = site / page.replace(".md", ".html")
        assert html.exists(), f"the code links to runbook/{page}, which does not exist"
        missing = anchors - _ids(html)
        assert not missing, f"runbook/{page} has no heading #{', #'.join(sorted(missing))}"


def test_invoke_list_does_not_import_the_docs_tools():
    code = (
        "import sys\n"
        "from invoke import Program\n"
        "try:\n"
        "    Program(binary='invoke').run(['invoke', '--search-root', sys.argv[1], '--list'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('mkdocs', 'material', 'markdown', 'pymdownx', 'sybil', 'vcr')]\n"
        "print('HEAVY', sorted(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True
    )
    assert "HEAVY []" in done.stdout, done.stdout[-500:]
