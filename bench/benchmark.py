"""Benchmark: startup, demo cost, HTTP requests of a full setup, re-run mutations, memory.

Run: ``.venv/bin/python bench/benchmark.py [--runs 5]``. Prints one table (medians of
``--runs`` runs for the timings). Not a test: numbers depend on the machine; the ratios are what
to compare. Targets: list and demo ratios <= 1.3, with and without the bytecode cache; re-run
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

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def timed(cmd: list[str], cwd: Path, runs: int, env: dict[str, str]) -> tuple[float, int]:
    """Median wall seconds of ``cmd`` over ``runs`` runs, and its largest max RSS (KiB)."""
    times, peak = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, status, usage = os.wait4(proc.pid, 0)
        times.append(time.perf_counter() - start)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-2000:]}")
        proc.stderr.close()
        peak = max(peak, usage.ru_maxrss)
    return statistics.median(times), peak


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
    args = parser.parse_args()
    invoke = [PY, "-m", "invoke"]
    warm_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cold_env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with tempfile.TemporaryDirectory() as bare:
        Path(bare, "tasks.py").write_text(
            "from invoke import task\n\n\n@task\ndef hello(c):\n    'Say hello.'\n"
        )
        script = Path(bare, "mlops-setup")
        script.write_text(CONSOLE_SCRIPT)
        script_env = {**warm_env, "PYTHONPATH": str(ROOT)}
        drop_bytecode()
        t_cold, _ = timed([*invoke, "--list"], ROOT, args.runs, cold_env)
        # The three warm lists take turns, so that a busy machine weighs on each alike.
        lists = {
            "bare": ([*invoke, "--list"], Path(bare), warm_env),
            "repo": ([*invoke, "--list"], ROOT, warm_env),
            "script": ([PY, str(script), "--list"], Path(bare), script_env),
        }
        for cmd, cwd, env in lists.values():  # a first run caches the bytecode
            subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
        turns: dict[str, list[float]] = {name: [] for name in lists}
        for _ in range(args.runs):
            for name, (cmd, cwd, env) in lists.items():
                turns[name].append(timed(cmd, cwd, 1, env)[0])
        t_bare, t_list, t_script = (statistics.median(turns[name]) for name in lists)
    floor = [PY, "-c", "import databricks.sdk, github, git"]
    t_floor, _ = timed(floor, ROOT, args.runs, warm_env)
    t_demo, peak = timed([*invoke, "demo"], ROOT, args.runs, warm_env)
    drop_bytecode()
    t_floor_cold, _ = timed(floor, ROOT, args.runs, cold_env)
    t_demo_cold, _ = timed([*invoke, "demo"], ROOT, args.runs, cold_env)
    counts = count_requests()
    rows = [
        ("invoke --list (this repo, bytecode cached)", f"{t_list * 1000:.0f} ms"),
        ("invoke --list (bare Invoke, one task)", f"{t_bare * 1000:.0f} ms"),
        ("list ratio (target <= 1.3)", f"{t_list / t_bare:.2f}"),
        ("list ratio, no bytecode cache (cold)", f"{t_cold / t_bare:.2f}"),
        ("mlops-setup --list (console script)", f"{t_script * 1000:.0f} ms"),
        ("mlops-setup list ratio (target <= 1.3)", f"{t_script / t_bare:.2f}"),
        ("invoke demo", f"{t_demo * 1000:.0f} ms"),
        ("import databricks.sdk, github, git", f"{t_floor * 1000:.0f} ms"),
        ("demo ratio (target <= 1.3)", f"{t_demo / t_floor:.2f}"),
        ("demo ratio, no bytecode cache (cold)", f"{t_demo_cold / t_floor_cold:.2f}"),
        ("full setup: reads", str(counts["first_reads"])),
        ("full setup: mutations", str(counts["first_mutations"])),
        ("re-run: reads", str(counts["rerun_reads"])),
        ("re-run: mutations (target 0)", str(counts["rerun_mutations"])),
        ("demo peak memory (max RSS)", f"{peak / 1024:.0f} MiB"),
    ]
    width = max(len(r[0]) for r in rows)
    print(
        f"{'measure'.ljust(width)}  value   (median of {args.runs} runs, {sys.version.split()[0]})"
    )
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
