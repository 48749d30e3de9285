"""The installed command: ``mlops-setup`` runs the tasks ``invoke`` runs in a clone, and finds
everything it needs inside the package (``.ci/run`` also builds the wheel and runs it)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import tomllib

import pytest
from invoke import Program

from mlops_setup import __version__, cli, locate
from tests import invokecopy
from tests.conftest import ROOT, run_cli


def mlops_setup(*argv: str) -> tuple[int, str, str]:
    """``mlops-setup ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.program().run(["mlops-setup", *argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def test_version_is_the_package_version():
    code, out, _ = mlops_setup("--version")
    assert code == 0
    assert out.strip() == f"mlops-setup {__version__}"
    with open(ROOT / "pyproject.toml", "rb") as fh:
        meta = tomllib.load(fh)
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "mlops_setup.__version__"}


def test_console_script_points_at_main():
    with open(ROOT / "pyproject.toml", "rb") as fh:
        scripts = tomllib.load(fh)["project"]["scripts"]
    assert scripts == {"mlops-setup": "mlops_setup.cli:main"}
    assert callable(cli.main)


def test_same_tasks_as_invoke_in_a_clone_less_the_docs_ones():
    import tasks

    mine = set(cli.namespace().task_names)
    theirs = set(tasks.ns.task_names)
    assert mine == {name for name in theirs if not name.startswith("docs.")}
    assert {"setup.all", "setup.plan", "ci.secrets", "demo"} <= mine
    code, out, _ = mlops_setup("--list")
    assert code == 0
    for name in ("setup.all", "setup.plan", "setup.inspect", "ci.secrets", "demo"):
        assert f"  {name} " in out
    assert "docs." not in out
    listed = run_cli("--list").out.splitlines()
    assert [ln.split()[0] for ln in listed if ln.startswith("  docs.")] == [
        "docs.build",
        "docs.refresh",
        "docs.serve",
    ]  # the clone keeps its contributor tasks


def test_help_names_the_command():
    code, out, _ = mlops_setup("--help", "ci.secrets")
    assert code == 0
    assert out.startswith("Usage: mlops-setup [--core-opts] ci.secrets [--options]")
    assert "--dry-run" in out


def test_a_broken_f_file_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("github: [unclosed\n")
    code, _, err = mlops_setup("-f", str(bad), "setup.inspect")
    assert code == 2
    assert err.strip().count("\n") == 0
    assert str(bad) in err and "invalid YAML" in err


def test_list_imports_no_sdk_from_outside_the_repo(tmp_path):
    """The console script as pip writes it, run where no tasks.py is: no heavy import."""
    code = (
        "import sys\n"
        "sys.argv = ['mlops-setup', '--list']\n"
        "from mlops_setup.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('databricks', 'github', 'git', 'pydantic', 'vcr', 'requests', 'mkdocs')]\n"
        "print('HEAVY', sorted(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert "setup.plan" in done.stdout
    assert "HEAVY []" in done.stdout, done.stdout[-500:]


@pytest.mark.parametrize(
    ("shipped", "in_the_repo"),
    [
        (locate.DEFAULTS, "config/defaults.yaml"),
        (locate.EXAMPLE_CONFIG, "config/example.yaml"),
        (f"{locate.DEMO_CASSETTES}/test_demo.yaml", "tests/cassettes/test_demo/test_demo.yaml"),
        (
            f"{locate.DEMO_CASSETTES}/test_demo.git.yaml",
            "tests/cassettes/test_demo/test_demo.git.yaml",
        ),
    ],
)
def test_shipped_files_are_the_repository_files(shipped, in_the_repo):
    """mlops_setup/data/ links to the files where readers and --compose find them, so the copy
    in the package cannot drift from them (the build copies the contents into the wheel)."""
    path = locate.resource(shipped)
    assert path.is_file()
    assert path.resolve() == (ROOT / in_the_repo).resolve()


def test_manifest_ships_the_data_and_the_example_project():
    manifest = (ROOT / "MANIFEST.in").read_text().splitlines()
    assert "graft mlops_setup/data" in manifest
    assert "graft mlops_setup/example_project" in manifest
    example = ROOT / "mlops_setup" / "example_project"
    # graft takes what package-data globs skip: dotfiles and binaries
    assert (example / ".github" / "workflows" / "deploy-cicd.yml").is_file()
    assert (example / ".gitignore").is_file()
    assert (example / "cicd.tar.gz").is_file()


def test_running_it_leaves_the_tasks_help_whole():
    """Invoke pops each flag's help out of a Task while parsing: the program parses a copy."""
    from mlops_setup.sections.ci import secrets

    before = dict(secrets.secrets.help)
    for _ in range(2):
        code, out, _ = mlops_setup("--help", "ci.secrets")
        assert code == 0
        assert "--rotate" in out and "Mint new tokens" in out
    assert secrets.secrets.help == before


def test_unknown_task_hints_name_the_command_in_use():
    code, _, err = mlops_setup("ci.secretz")
    assert code == 2
    assert "did you mean 'ci.secrets'?" in err
    code, _, err = mlops_setup("zzzzzz")
    assert code == 2
    assert "`mlops-setup --list` shows every task, `mlops-setup --help TASK` its flags" in err
    assert "`invoke --list` shows every task" in run_cli("zzzzzz").err


def test_the_commands_a_message_suggests_name_the_command_in_use(tmp_path, monkeypatch, clean_env):
    """Installed, `invoke ci.permissions` finds no tasks: the hints say `mlops-setup ...`."""
    (tmp_path / "none").mkdir()
    (tmp_path / "mlops-setup.yaml").write_text(
        "github: {owner: acme}\n"
        "databricks: {account: {id: 0d2c1e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5}}\n"
        f"project: {{dir: {tmp_path / 'none'}}}\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = mlops_setup("ci.permissions")
    assert code == 2, out + err
    assert "this folder is not an MLOps Stacks project" in err
    assert "`mlops-setup setup.inspect` lists what the project says" in err
    assert "`invoke " not in err
    again = run_cli("ci.permissions", cwd=tmp_path)  # a clone's `invoke`: as written
    assert again.code == 2
    assert "`invoke setup.inspect` lists what the project says" in again.err
    assert f"project.dir: {tmp_path / 'none'}: this folder" in again.err  # the folder once


# Lines for the parser of the named tasks (cli.parser_for) against Invoke's parser of every
# task: tasks, aliases (`repo` is repo.all), several tasks, unknown tasks and flags, flag values
# that are task names, --help TASK in every spelling, core flags, the remainder, --complete.
LINES = [
    [],
    ["ci.secrets", "--dry-run"],
    ["repo.create"],
    ["repo"],
    ["code", "--merge"],
    ["repo.create", "--dry-run", "ci.secrets", "--rotate", "repo", "setup.plan", "--json"],
    ["ci.secrets", "ci.secrets"],
    ["ci.secrets", "-dr"],
    ["ci.secrets", "-x"],
    ["ci.secrets", "--dry-run=yes"],
    ["ci.secret"],
    ["ci"],
    ["secrets"],
    ["nonsense", "ci.secrets"],
    ["ci.secrets", "--dryrun"],
    ["--dryrun", "ci.secrets"],
    ["--dry-run", "repo.create"],
    ["setup.plan", "--jsn"],
    ["demo", "--cloud", "repo"],
    ["demo", "--cloud=ci.secrets", "repo.create"],
    ["demo", "--cloud", "--auth", "x"],
    ["setup.destroy", "--yes-delete-repo", "repo.create"],
    ["setup.destroy", "--yes-delete-repo"],
    ["docs.serve", "--addr", "setup.all", "docs.build", "--site-dir=docs"],
    ["--help", "ci.secrets"],
    ["--help=ci.secrets"],
    ["-hci.secrets"],
    ["-h", "repo"],
    ["ci.secrets", "--help"],
    ["repo.create", "ci.auth", "--help"],
    ["--help", "setup.stat"],
    ["--help", "nonsense"],
    ["--help"],
    ["--list"],
    ["--list", "ci"],
    ["--list", "ci.secrets"],
    ["--list=setup"],
    ["--version"],
    ["--echo", "ci.secrets", "--hide", "both"],
    ["ci.secrets", "--echo", "--warn-only"],
    ["ci.secrets", "--", "repo.create"],
    ["--complete", "--", "mlops-setup", "ci.sec"],
    ["--complete", "--", "mlops-setup", "ci.secrets", "--"],
    ["--complete", "--", "mlops-setup", "'ci.sec''rets'", "-"],
]
# `invoke` parses with the same parser (its core flags and the docs tasks differ): a few lines.
INVOKE_LINES = [
    ["docs.serve", "--addr", "setup.all", "docs.build", "--site-dir=docs"],
    ["docs.refresh", "--check", "repo"],
    ["--help=docs.build"],
    ["--dryrun", "ci.secrets"],
    ["repo.create", "ci.auth", "--help"],
    ["docs.refrsh"],
    ["--list", "docs"],
    ["--complete", "--", "invoke", "docs."],
    ["--complete", "--", "invoke", "'docs.re''fresh'", "--"],
    ["-c", "tasks", "ci.secrets", "--dry-run"],
]


def _parsed_line(program: str, argv: list[str]) -> tuple[int, str, str]:
    """``program ARGV`` up to running its tasks, which are printed instead (names, flags)."""

    def execute(self):
        print(
            "core", sorted((k, a.value) for k, a in self.core[0].args.items()), self.core.remainder
        )
        for context in self.tasks:
            print("task", context.name, sorted((k, a.value) for k, a in context.args.items()))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Program, "execute", execute)
        if program == "invoke":
            done = run_cli(*argv)
            return done.code, done.out, done.err
        return mlops_setup(*argv)


@pytest.mark.parametrize(("program", "lines"), [("mlops-setup", LINES), ("invoke", INVOKE_LINES)])
def test_the_parser_of_the_named_tasks_reads_every_line_as_invokes_does(program, lines):
    cli.install()
    assert Program._make_parser is not cli.INVOKE["_make_parser"]
    ours = [_parsed_line(program, argv) for argv in lines]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Program, "_make_parser", cli.INVOKE["_make_parser"])
        for cls in invokecopy._PLAIN_CLASSES:  # and copy.deepcopy's own copies of its objects
            patch.delattr(cls, "__deepcopy__")
        invokes = [_parsed_line(program, argv) for argv in lines]
    for argv, mine, theirs in zip(lines, ours, invokes, strict=True):
        assert mine == theirs, argv
    assert any("task ci.secrets" in out for _, out, _ in ours)  # the lines did parse tasks
    assert any(code == 2 and "did you mean" in err for code, _, err in ours)
    assert any(out.startswith("Usage: ") and "Docstring:" in out for _, out, _ in ours)


def test_the_parser_is_given_only_the_tasks_a_line_names():
    seen = {}

    def execute(self):
        seen[tuple(self.argv[1:])] = set(self.parser.contexts) | set(self.parser.contexts.aliases)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Program, "execute", execute)
        mlops_setup("ci.secrets", "--dry-run")
        mlops_setup("repo", "ci.auth")
    assert seen == {
        ("ci.secrets", "--dry-run"): {"ci.secrets"},
        ("repo", "ci.auth"): {"repo.all", "repo", "ci.auth"},
    }


def _shape(obj, original: set[int], seen: dict[int, int]):
    """What ``obj`` is, as data to compare two copies by: each object's type and its parts, an
    object met twice as a reference to the first, an atom (``copy.deepcopy`` keeps those) by
    identity, and for each object whether it is one of ``original`` (the ids the copied thing
    reaches: a part the copy shares with it)."""
    if type(obj) in invokecopy._ATOMIC:
        return ("atom", id(obj))
    if id(obj) in seen:
        return ("ref", seen[id(obj)])
    seen[id(obj)] = len(seen)
    parts = []
    if isinstance(obj, dict):
        parts.append(
            [(_shape(k, original, seen), _shape(v, original, seen)) for k, v in obj.items()]
        )
    elif isinstance(obj, list | tuple | set | frozenset):
        parts.append([_shape(item, original, seen) for item in obj])
    if hasattr(obj, "__dict__"):
        parts.append(_shape(vars(obj), original, seen))
    return (type(obj), id(obj) in original, parts)


def _reached(obj, found: set[int]) -> set[int]:
    if type(obj) in invokecopy._ATOMIC or id(obj) in found:
        return found
    found.add(id(obj))
    items = list(obj.items()) if isinstance(obj, dict) else []
    for item in [
        *(x for kv in items for x in kv),
        *(obj if isinstance(obj, list | tuple | set | frozenset) else ()),
    ]:
        _reached(item, found)
    if hasattr(obj, "__dict__"):
        _reached(vars(obj), found)
    return found


def test_the_quicker_deepcopy_of_invokes_objects_is_the_copy_deepcopy_makes():
    """Invoke copies every task on each load and the core flags on each parse; cli.install()
    gives Task, Argument and ParserContext a __deepcopy__ that must make the same copy as
    copy.deepcopy's generic one: same types, same values, the same parts shared within the copy
    and with the original, nothing else shared."""
    import copy

    from invoke import Task

    import tasks
    from mlops_setup import demo, docs, guide  # noqa: F401  (the modules' own Task objects)

    class Sub(Task):  # a subclass gets the generic copy
        __slots__ = ("extra",)

    sub = Sub(lambda c, x=1: None, help={"x": "the x"})
    sub.extra = ["kept"]
    invokecopy.install()
    assert invokecopy._ATOMIC, "this Python's copy module lists its atomic types in no known way"
    assert all(cls.__deepcopy__ is invokecopy._plain_deepcopy for cls in invokecopy._PLAIN_CLASSES)
    ns = cli.namespace("docs")
    ns.add_task(sub, name="sub")
    program = Program(namespace=ns)
    program.create_config()
    program.collection = copy.deepcopy(ns)  # parsing pops the help out of the tasks it reads
    things = {
        "the clone's namespace (section Tasks)": ns,
        "the tasks.py namespace": tasks.ns,
        "the core flags": program.initial_context,
        "every task's parser context": copy.deepcopy(ns).to_contexts(),
        "the parser of a line": cli.parser_for(program, ["ci.secrets", "--dry-run"]).contexts,
    }
    for what, thing in things.items():
        original = _reached(thing, set())
        quick = copy.deepcopy(thing)
        with pytest.MonkeyPatch.context() as patch:
            for cls in invokecopy._PLAIN_CLASSES:
                patch.delattr(cls, "__deepcopy__")
            generic = copy.deepcopy(thing)
        assert _shape(quick, original, {}) == _shape(generic, original, {}), what
        assert _shape(quick, original, {}) != _shape(thing, original, {}), what  # a real copy
    copied = copy.deepcopy(ns)
    assert copied["sub"].extra == ["kept"] and copied["sub"].extra is not sub.extra


def test_a_collection_is_true_when_a_task_is_in_it_as_invoke_says():
    from invoke import Collection, Task

    import tasks

    invokecopy.install()
    assert Collection.__bool__ is invokecopy._has_tasks
    invokes = invokecopy.INVOKE["Collection.__bool__"]
    leaf = Collection("leaf", Task(lambda c: None, name="t"))
    cases = {
        "empty": Collection(),
        "empty inside empty": Collection("a", Collection("b", Collection("c"))),
        "a task three down": Collection("a", Collection("b", Collection("c", leaf))),
        "a task at the top": Collection(Task(lambda c: None, name="top")),
        "the clone's namespace": tasks.ns,
        "a section": tasks.ns.collections["ci"],
    }
    said = {what: (bool(coll), invokes(coll)) for what, coll in cases.items()}
    assert all(ours == theirs for ours, theirs in said.values()), said
    assert [ours for ours, _ in said.values()] == [False, False, True, True, True, True]


def test_run_cli_runs_tasks_py_again_only_when_what_it_builds_would_differ(monkeypatch):
    """run_cli (tests only) keeps the module of tasks.py's last run while the task modules it
    reads are the ones it read; everything else is Invoke's own path, so its calls give what
    Invoke's loader (the ``invoke`` command's) gives."""
    from invoke.loader import FilesystemLoader

    from mlops_setup import guide
    from tests import conftest

    lines = [("--list",), ("--help", "ci.secrets"), ("ci.secrt",), ("repo.create", "--dryrun")]
    for argv in lines:
        assert run_cli(*argv) == run_cli(*argv, loader=FilesystemLoader), argv
    assert run_cli("--list").code == 0
    kept = conftest._LOADED["loaded"][0]
    assert run_cli("--list").code == 0 and conftest._LOADED["loaded"][0] is kept  # reused
    fresh, _ = FilesystemLoader(start=str(ROOT)).load("tasks")
    assert fresh is not kept and fresh.ns == kept.ns
    assert list(fresh.ns.task_names) == list(kept.ns.task_names)
    assert kept.ns.collections["setup"] is guide.ns  # an imported module's own ns
    monkeypatch.delitem(sys.modules, "mlops_setup.guide")  # now tasks.py builds another ns
    indexed = run_cli("--list")
    again = conftest._LOADED["loaded"][0]
    assert again is not kept and again.ns.collections["setup"] is not guide.ns
    assert indexed == run_cli("--list", loader=FilesystemLoader)
