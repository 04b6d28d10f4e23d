"""Timing whole processes on a shared, noisy machine: medians, and paired A/B ratios.

Commands run alternately (A B A B ...) after warm-ups, so load that comes and
goes hits both sides alike; the ratio reported is the median of per-pair
ratios. Peak RSS comes from the kernel's accounting of each child (wait4).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass
class Sample:
    wall: float
    max_rss_kib: int
    returncode: int


def run_once(cmd: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None) -> Sample:
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Sample(wall, int(usage.ru_maxrss), proc.returncode)


@dataclass
class Paired:
    a: list[Sample]
    b: list[Sample]

    @property
    def a_median(self) -> float:
        return statistics.median(s.wall for s in self.a)

    @property
    def b_median(self) -> float:
        return statistics.median(s.wall for s in self.b)

    @property
    def ratio(self) -> float:
        return statistics.median(x.wall / y.wall for x, y in zip(self.a, self.b, strict=False))

    def line(self, name_a: str, name_b: str) -> str:
        def rng(samples: list[Sample]) -> str:
            walls = [s.wall for s in samples]
            return f"{statistics.median(walls):.3f} s ({min(walls):.3f}–{max(walls):.3f})"

        rss = statistics.median(s.max_rss_kib for s in self.a) / 1024
        return f"| {name_a} | {rng(self.a)} | {name_b} | {rng(self.b)} | {self.ratio:.2f}x | {rss:.0f} MiB |"


def paired(
    a: Sequence[str],
    b: Sequence[str],
    *,
    runs: int = 15,
    warmup: int = 2,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    check: bool = True,
) -> Paired:
    for _ in range(warmup):
        run_once(a, env=env, cwd=cwd)
        run_once(b, env=env, cwd=cwd)
    result = Paired([], [])
    for _ in range(runs):
        result.a.append(run_once(a, env=env, cwd=cwd))
        result.b.append(run_once(b, env=env, cwd=cwd))
    if check:
        bad = [s.returncode for s in result.a + result.b if s.returncode not in (0,)]
        if bad:
            raise SystemExit(f"a benchmarked command failed: exit codes {sorted(set(bad))}: {a} / {b}")
    return result


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min), {os.cpu_count()} cores"
