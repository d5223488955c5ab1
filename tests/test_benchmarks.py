"""The benchmark's quick mode runs end to end and prints every row (no timing is judged)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.run import ROWS

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_prints_one_table_with_every_row():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert sum(line.startswith("figure") for line in lines) == 1  # one table
    rule = next(i for i, line in enumerate(lines) if set(line) == {"-"})
    rows = lines[rule + 1 : rule + 1 + len(ROWS)]
    for (label, _key), row in zip(ROWS, rows, strict=True):
        assert row.startswith(label), f"row {label!r} missing:\n{done.stdout}"
        value = row[len(label) :].split()
        assert value, f"row {label!r} has no value"
    assert "Traceback" not in done.stderr
