"""`promote check` of a policy with many rules, and of a YAML anchor bomb: two installs side by side.

Usage: python benchmarks/policy_scale.py --a /tmp/new/bin/promote --b /tmp/base/bin/promote
       [--rules 10000] [--runs 5]
Each command runs with PROMOTE_NO_CACHE=1 (parse and schema check every time, as on a fresh
runner), A and B alternately; prints medians, ranges, the median of per-pair ratios A/B and the
peak RSS of A. The bomb is run once per side under a 120 s timeout (a baseline may never finish).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import load, paired

BOMB = "".join(
    f"{x}: &{x} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
    for p, x in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def policy(rules: int) -> str:
    body = "".join(
        f"  - name: rule-{i}\n    model: model-{i % 1000}\n    from: staging\n    to: prod-{i}\n"
        "    gates:\n      - {metric: val_f1, min: 0.9}\n      - {max_age: 14d}\n"
        for i in range(rules)
    )
    return "version: 1\npromotions:\n" + body


def bomb(promote: str, cwd: str, env: dict[str, str]) -> str:
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [promote, "check", "bomb.yaml"], cwd=cwd, env=env, capture_output=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        return "still running after 120 s (killed)"
    return f"exit {proc.returncode} after {time.perf_counter() - start:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="promote of the install under test")
    ap.add_argument("--b", required=True, help="promote of the baseline install")
    ap.add_argument("--rules", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    env = {**os.environ, "PROMOTE_NO_CACHE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "big.yaml").write_text(policy(args.rules))
        Path(tmp, "bomb.yaml").write_text(BOMB)
        print(load())
        result = paired(
            [args.a, "check", "big.yaml"], [args.b, "check", "big.yaml"], runs=args.runs, warmup=1, env=env, cwd=tmp
        )
        print("| A | A median (min–max) | B | B median (min–max) | A/B | A peak RSS |")
        print("|---|---|---|---|---|---|")
        print(result.line(f"check, {args.rules} rules (A)", "(B)"))
        print(f"anchor bomb ({len(BOMB.encode())} bytes): A {bomb(args.a, tmp, env)}; B {bomb(args.b, tmp, env)}")


if __name__ == "__main__":
    main()
