"""The task index (``mlops_setup/data/tasks.json``): equal to what the modules declare, the
same ``--list`` and ``--help TASK`` as the modules give, and a run through it runs the real task."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import subprocess
import sys

import pytest
from invoke import Collection, Context, Exit, Program, task

from mlops_setup import cli, taskindex
from tests.conftest import ROOT


def test_the_index_is_what_the_modules_declare():
    assert not taskindex.stale(), "the task index is out of date: run `invoke docs.refresh`"
    shipped = json.loads((ROOT / "mlops_setup" / taskindex.INDEX).read_text())
    assert shipped == taskindex.generate()
    assert set(shipped["collections"]) == set(taskindex.COLLECTIONS)


def _namespace(indexed: bool) -> Collection:
    """The clone's namespace (tasks.py), every collection from the index or from its module."""
    ns = Collection()
    for name in taskindex.COLLECTIONS:
        coll = taskindex.indexed_collection(name) if indexed else taskindex.real_collection(name)
        ns.add_collection(coll)
    demo = taskindex.IndexedTask(taskindex.load()["tasks"]["demo"])
    ns.add_task(demo if indexed else taskindex.real_task("demo"))
    return copy.deepcopy(ns)  # parsing pops the flags' help out of the Task objects


def _run(ns: Collection, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    program = Program(namespace=copy.deepcopy(ns), name="mlops-setup", binary="mlops-setup")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            program.run(["mlops-setup", *argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def test_list_and_every_help_are_the_same_from_the_index():
    indexed, real = _namespace(indexed=True), _namespace(indexed=False)
    assert list(indexed.task_names) == list(real.task_names)
    assert _run(indexed, "--list") == _run(real, "--list")
    for name in real.task_names:
        shown = _run(indexed, "--help", name)
        assert shown[0] == 0, shown
        assert shown == _run(real, "--help", name), name
    twins = {c.name: c for c in real.to_contexts()}  # (parsing pops the help: once each)
    for context in indexed.to_contexts():  # the parser: flags, kinds, defaults
        twin = twins[context.name]
        assert sorted(context.flags) == sorted(twin.flags), context.name
        for flag, arg in context.flags.items():
            other = twin.flags[flag]
            assert (arg.kind, arg.default, arg.help) == (other.kind, other.default, other.help)


def test_an_indexed_task_runs_the_real_one_with_the_parsed_flags(monkeypatch):
    from mlops_setup.sections import release

    seen = []

    def body(c, dry_run=False, update=False):
        seen.append((dry_run, update))

    monkeypatch.setattr(release.branch, "body", body)
    ns = Collection()
    ns.add_collection(taskindex.indexed_collection("release"))
    code, _, err = _run(ns, "release.branch", "--dry-run")
    assert code == 0, err
    assert seen == [(True, False)]
    assert _run(ns, "release", "--update")[0] == 0  # the collection's default task
    assert seen[-1] == (False, True)


def test_a_stale_entry_refuses_to_run(monkeypatch):
    """Flags parsed from an out-of-date index never reach the real task."""
    entry = copy.deepcopy(taskindex.load()["collections"]["release"]["tasks"][0])
    entry["params"][0]["default"] = True  # the index says --dry-run is on by default
    stale = taskindex.IndexedTask(entry)
    from mlops_setup.sections import release

    def body(c, dry_run=False, update=False):
        pytest.fail("the real task ran")

    monkeypatch.setattr(release.branch, "body", body)
    with pytest.raises(Exit) as caught:
        stale(Context(), dry_run=True, update=False)
    assert caught.value.code == 2
    assert "run `invoke docs.refresh`" in str(caught.value.message)


def test_index_tasks_compare_by_what_they_stand_for():
    """Invoke dedupes calls by Task equality: two indexed tasks named `all` are not equal."""
    data = taskindex.load()["collections"]
    repo_all = next(e for e in data["repo"]["tasks"] if e["key"] == "all")
    deploy_all = next(e for e in data["deploy"]["tasks"] if e["key"] == "all")
    assert taskindex.IndexedTask(repo_all) != taskindex.IndexedTask(deploy_all)
    assert taskindex.IndexedTask(repo_all) == taskindex.IndexedTask(dict(repo_all))


def test_what_the_index_cannot_say_is_refused():
    @task(pre=[])
    def plain(c, name="x"):
        """Plain."""

    @task
    def odd(c, when=b"bytes"):
        """A default that is not JSON."""

    assert taskindex.declare(plain, "plain")["params"] == [{"name": "name", "default": "x"}]
    with pytest.raises(taskindex.NotIndexable, match="not JSON data"):
        taskindex.declare(odd, "odd")


@pytest.mark.parametrize("command", [["-m", "invoke", "--list"], ["-c", "MAIN"]])
def test_listing_imports_no_section(tmp_path, command):
    """`invoke --list` in the clone and `mlops-setup --list` import the index, not the tasks."""
    probe = (
        "import atexit, sys\n"
        "def report():\n"
        "    mods = sorted(m for m in sys.modules if m.startswith('mlops_setup.'))\n"
        "    print('LOADED', mods, file=sys.stderr)\n"
        "atexit.register(report)\n"
    )
    main = "sys.argv = ['mlops-setup', '--list']\nfrom mlops_setup.cli import main\nmain()\n"
    script = tmp_path / "probe.py"
    script.write_text(
        probe
        + (
            "import runpy\nsys.argv = ['invoke', '--list']\n"
            "runpy.run_module('invoke', run_name='__main__')\n"
            if command[0] == "-m"
            else main
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=ROOT if command[0] == "-m" else tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "setup.plan" in done.stdout
    loaded = done.stderr.split("LOADED", 1)[1]
    assert "mlops_setup.taskindex" in loaded
    for module in (*taskindex.COLLECTIONS.values(), "mlops_setup.demo"):
        assert f"'{module}'" not in loaded, loaded


def test_the_cli_uses_a_module_already_imported():
    """In a process that imported a section (the tests, docs.refresh), its own ns is used."""
    from mlops_setup.sections import release

    assert cli.namespace().collections["release"] is release.ns


def test_a_copy_of_an_indexed_task_has_its_own_help_and_shares_the_entry_untouched():
    """Invoke deep-copies every task on each load; an IndexedTask's copy leaves out only its
    index entry (read-only), and parsing the copy (which pops its help) changes nothing else."""
    entry = next(e for e in taskindex.load()["collections"]["ci"]["tasks"] if e["key"] == "secrets")
    before = copy.deepcopy(entry)
    original = taskindex.IndexedTask(entry)
    twin = copy.deepcopy(original)
    assert twin == original and twin.entry is entry and vars(twin).keys() == vars(original).keys()
    parsed = [(a.names, a.kind, a.default, a.help) for a in twin.get_arguments()]
    assert twin.help == {}  # popped by the parse, from the copy only
    assert original.help == before["help"] and entry == before
    again = [(a.names, a.kind, a.default, a.help) for a in copy.deepcopy(original).get_arguments()]
    assert again == parsed and all(help_ for *_, help_ in parsed)
