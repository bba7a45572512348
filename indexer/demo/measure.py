"""The pixcept CLI run in a fresh process with its own peak memory, for the tests and the benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PEAK_MARK = "pixcept-peak-rss-mb="
_MEASURED_CLI = f"""
import atexit, runpy, sys, threading, time

peak_anon = [0]

def status():
    return dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)

def sample():
    while True:
        peak_anon[0] = max(peak_anon[0], int(status()["RssAnon"].split()[0]))
        time.sleep(0.1)

def report():
    sys.stderr.write("\\n{PEAK_MARK}%.1f %.1f\\n" % (int(status()["VmHWM"].split()[0]) / 1024, peak_anon[0] / 1024))

threading.Thread(target=sample, daemon=True).start()
atexit.register(report)
sys.argv = ["pixcept", *sys.argv[1:]]
runpy.run_module("indexer.cli", run_name="__main__")
"""


@dataclass
class Measured:
    code: int
    out: str
    err: str
    peak_mb: float  # VmHWM: everything resident at the peak, memory-mapped store files included
    peak_anon_mb: float  # the process's own allocations at their peak (sampled every 0.1 s)


def run_cli_measured(args: list, env: dict, cwd: Path) -> Measured:
    """The pixcept CLI in a fresh process, with its own peak memory (read by the process itself: ru_maxrss would
    start from the parent's peak, carried over fork and exec)."""
    import os
    import subprocess
    import sys

    process = subprocess.run([sys.executable, "-c", _MEASURED_CLI, *map(str, args)], cwd=cwd,
                             env={**os.environ, **env}, capture_output=True, text=True, errors="replace")
    err, _, peaks = process.stderr.rpartition(PEAK_MARK)
    peak, anon = (float(v) for v in peaks.split()) if peaks else (float("nan"), float("nan"))
    return Measured(process.returncode, process.stdout, err.rstrip("\n"), peak, anon)
