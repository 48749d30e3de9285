"""bench/benchmark.py's measuring of one command (the suite's run through it included)."""

from __future__ import annotations

import importlib.util
import sys
import threading

import pytest

from tests.conftest import ROOT


def _benchmark():
    spec = importlib.util.spec_from_file_location("benchmark", ROOT / "bench" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_command_that_writes_much_to_stderr_is_timed_not_hung(tmp_path):
    """``--suite`` times a whole pytest run, whose stderr (warnings, a worker's traceback) can
    outgrow a pipe's buffer: the command still ends and is timed; a failure shows its end."""
    bench = _benchmark()
    loud = [sys.executable, "-c", "import sys; sys.stderr.write('x' * 300_000)"]
    done: list = []
    worker = threading.Thread(
        target=lambda: done.append(bench.run_once(loud, tmp_path, {})), daemon=True
    )
    worker.start()
    worker.join(timeout=60)
    assert done, "run_once did not return: the command blocked on a full stderr pipe"
    wall, cpu, rss = done[0]
    assert wall > 0 and cpu > 0 and rss > 0
    failing = [sys.executable, "-c", "import sys; sys.stderr.write('y' * 300_000 + 'the end')"]
    failing[-1] += "; sys.exit(3)"
    with pytest.raises(SystemExit, match=r"the end$"):
        bench.run_once(failing, tmp_path, {})
