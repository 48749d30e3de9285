"""Benchmark: startup, demo cost, HTTP requests of a full setup, re-run mutations, memory.

Run: ``.venv/bin/python bench/benchmark.py [--runs 5]``. Prints one table (medians of
``--runs`` runs for the timings, the compared commands taking turns). Not a test: numbers depend
on the machine; the ratios are what to compare. Each timing is given as wall time and as CPU
time (user + sys of the process and the git commands it waits for): on a machine that other
jobs load, wall time moves with the load and CPU time much less, so the table also says the
load average. Targets: list and demo ratios <= 1.3, with and without the bytecode cache; re-run
mutations 0.

* ``invoke --list`` here vs bare Invoke listing a one-task tasks.py (same interpreter), with our
  bytecode cached (every run after the first) and without (a fresh clone under
  PYTHONDONTWRITEBYTECODE=1, as on the machine this was built on).
* ``mlops-setup --list`` (the console script, as pip writes it, importing this clone's package;
  an installed wheel has its bytecode compiled by pip) vs the same bare Invoke, from a folder
  outside the repository.
* ``invoke demo`` wall time vs ``python -c "import databricks.sdk, github, git"``: the floor of
  any tool built on these libraries.
* Requests of a full ``setup.all`` and of its re-run, counted by running the real code against
  the in-process fake API of the tests (``tests/fakeapi``) on a fresh example project.
* Peak memory (max RSS) of the demo process.
* With ``--suite``: the README's test command (``pytest``, here with ``-p no:randomly``), wall
  and CPU of one run (target: <= 60 s wall on 2 cores). On 2 cores the wall time cannot go
  below half the CPU time, so the CPU time says what a quiet machine would show.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def run_once(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + sys, its children included) and max RSS (KiB) of one
    run of ``cmd``."""
    # stderr to a file, not a pipe nobody reads while waiting: a run that writes more than a
    # pipe holds (the suite's warnings, a worker's traceback) would block on it forever
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if proc.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed: {errors.read().decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def in_turns(
    commands: dict[str, tuple[list[str], Path, dict[str, str]]],
    runs: int,
    before: Any = None,
) -> dict[str, tuple[float, float, int]]:
    """Median wall and CPU seconds and the largest max RSS of each command over ``runs`` runs,
    the commands taking turns, so that a busy machine weighs on each alike. ``before`` runs
    before every run (to drop the bytecode cache)."""
    seen: dict[str, list[tuple[float, float, int]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (cmd, cwd, env) in commands.items():
            if before:
                before()
            seen[name].append(run_once(cmd, cwd, env))
    return {
        name: (
            statistics.median(r[0] for r in rs),
            statistics.median(r[1] for r in rs),
            max(r[2] for r in rs),
        )
        for name, rs in seen.items()
    }


def count_requests() -> dict[str, int]:
    """Requests of a fresh full setup and of its re-run, against the tests' fake API."""
    sys.path.insert(0, str(ROOT))
    from mlops_setup import demo, guide
    from mlops_setup.backoff import RecordingSleep
    from mlops_setup.console import Console
    from mlops_setup.session import Runtime, load_session, use_runtime
    from tests.fakeapi import FakeAPI, World

    world = World()
    api = FakeAPI(world)
    counts: dict[str, int] = {}
    with (
        api.serving(),
        tempfile.TemporaryDirectory() as tmp,
        demo.demo_environment(Path(tmp)) as workdir,
        open(os.devnull, "w") as devnull,
    ):
        world.gh["git_dir"] = str(workdir / "upstream.git")
        runtime = Runtime(
            sleep=RecordingSleep(),
            now=lambda: demo.NOW,
            cwd=str(workdir),
            probe=lambda *_, **__: None,
        )
        with use_runtime(runtime):
            for run in ("first", "rerun"):
                start = len(api.interactions)
                session = load_session()
                session.out = Console(stream=devnull)
                guide.run_all(session, dry_run=False)
                made = [req["method"] for req, _ in api.interactions[start:]]
                counts[f"{run}_reads"] = sum(m in ("GET", "HEAD") for m in made)
                counts[f"{run}_mutations"] = sum(m not in ("GET", "HEAD") for m in made)
    return counts


# What pip writes for a `[project.scripts]` entry (console_scripts), run with this interpreter.
CONSOLE_SCRIPT = """\
import re
import sys
from mlops_setup.cli import main
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit(main())
"""


def drop_bytecode() -> None:
    """Remove our package's cached bytecode (a fresh clone, or PYTHONDONTWRITEBYTECODE=1)."""
    import shutil

    for cache in (ROOT / "mlops_setup").rglob("__pycache__"):
        shutil.rmtree(cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--suite", action="store_true", help="also time one run of the test suite (~1-2 min)"
    )
    args = parser.parse_args()
    invoke = [PY, "-m", "invoke"]
    floor = [PY, "-c", "import databricks.sdk, github, git"]
    warm_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cold_env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as bare:
        Path(bare, "tasks.py").write_text(
            "from invoke import task\n\n\n@task\ndef hello(c):\n    'Say hello.'\n"
        )
        script = Path(bare, "mlops-setup")
        script.write_text(CONSOLE_SCRIPT)
        script_env = {**warm_env, "PYTHONPATH": str(ROOT)}
        bare_list = ([*invoke, "--list"], Path(bare), warm_env)
        # no bytecode of ours: a fresh clone, or PYTHONDONTWRITEBYTECODE=1 (bare Invoke's own
        # bytecode is cached by pip, as an installed mlops-setup's is)
        cold = in_turns(
            {
                "bare": bare_list,
                "list": ([*invoke, "--list"], ROOT, cold_env),
                "script": ([PY, str(script), "--list"], Path(bare), {**script_env, **cold_env}),
                "floor": (floor, ROOT, cold_env),
                "demo": ([*invoke, "demo"], ROOT, cold_env),
            },
            args.runs,
            before=drop_bytecode,
        )
        warm_cmds = {
            "bare": bare_list,
            "list": ([*invoke, "--list"], ROOT, warm_env),
            "script": ([PY, str(script), "--list"], Path(bare), script_env),
            "floor": (floor, ROOT, warm_env),
            "demo": ([*invoke, "demo"], ROOT, warm_env),
        }
        for cmd, cwd, env in warm_cmds.values():  # a first run caches the bytecode
            subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
        warm = in_turns(warm_cmds, args.runs)
    load_after = os.getloadavg()
    counts = count_requests()
    suite = None
    if args.suite:
        suite = run_once([PY, "-m", "pytest", "-p", "no:randomly"], ROOT, dict(os.environ))
        load_after = os.getloadavg()

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f} ms"

    def pair(times: dict[str, tuple[float, float, int]], name: str) -> str:
        return f"{ms(times[name][0])} wall, {ms(times[name][1])} CPU"

    def ratio(times: dict[str, tuple[float, float, int]], name: str, base: str) -> str:
        wall, cpu = times[name][0] / times[base][0], times[name][1] / times[base][1]
        return f"{wall:.2f} wall, {cpu:.2f} CPU"

    rows = [
        ("invoke --list (this repo)", pair(warm, "list")),
        ("invoke --list (bare Invoke, one task)", pair(warm, "bare")),
        ("list ratio (target <= 1.3)", ratio(warm, "list", "bare")),
        ("list ratio, no bytecode cache", ratio(cold, "list", "bare")),
        ("mlops-setup --list (console script)", pair(warm, "script")),
        ("mlops-setup list ratio (target <= 1.3)", ratio(warm, "script", "bare")),
        ("mlops-setup list ratio, no bytecode cache", ratio(cold, "script", "bare")),
        ("invoke demo", pair(warm, "demo")),
        ("import databricks.sdk, github, git", pair(warm, "floor")),
        ("demo ratio (target <= 1.3)", ratio(warm, "demo", "floor")),
        ("demo ratio, no bytecode cache", ratio(cold, "demo", "floor")),
        ("full setup: reads / mutations", f"{counts['first_reads']} / {counts['first_mutations']}"),
        (
            "re-run: reads / mutations (target 0)",
            f"{counts['rerun_reads']} / {counts['rerun_mutations']}",
        ),
        ("demo peak memory (max RSS)", f"{warm['demo'][2] / 1024:.0f} MiB"),
    ]
    if suite:
        cores = os.cpu_count() or 1
        rows.append(
            (
                "test suite, pytest -p no:randomly (target <= 60 s wall)",
                f"{suite[0]:.0f} s wall, {suite[1]:.0f} s CPU (CPU / {cores} cores: "
                f"{suite[1] / cores:.0f} s)",
            )
        )
    width = max(len(r[0]) for r in rows)
    print(
        f"{'measure'.ljust(width)}  value   (median of {args.runs} runs, Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} cores, load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after)"
    )
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
