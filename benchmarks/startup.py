"""Cold-process start-up: `promote --help` and `promote plan` on the demo, against `python -c "import typer"`.

Usage: python benchmarks/startup.py [--runs 15]
Run it with the interpreter of a *regular* (non-editable) install: an editable
install adds an import hook that costs ~1 ms per module and is not what users run.
Prints a Markdown table for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import load, paired

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    py = sys.executable
    promote = str(Path(py).with_name("promote"))
    work = Path(tempfile.mkdtemp(prefix="aliasgate-bench-"))
    shutil.copytree(ROOT / "examples", work / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMOTE_", "GITHUB_"))}
    env["HOME"] = str(work)  # fresh validation cache, isolated from the user's
    subprocess.run(
        [promote, "registry", "import", "examples/demo-registry.yaml"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    typer = [py, "-c", "import typer"]
    plan = [promote, "plan", "-p", "examples/aliasgate.yaml"]
    print(f"<!-- {load()}; python {sys.version.split()[0]}; {args.runs} pairs after 2 warm-ups -->")
    print("| A | A median (min–max) | B | B median (min–max) | A/B (median of pairs) | A peak RSS |")
    print("|---|---|---|---|---|---|")
    print(
        paired([promote, "--help"], typer, runs=args.runs, env=env, cwd=str(work)).line(
            "`promote --help`", "`import typer`"
        )
    )
    # The first plan of a policy validates it with jsonschema and remembers the verdict by content hash;
    # the warm-ups above leave it remembered, as on any machine that ran the policy once.
    print(
        paired(plan, typer, runs=args.runs, env=env, cwd=str(work)).line(
            "`promote plan` (demo)", "`import typer`"
        )
    )
    cold_env = {**env, "PROMOTE_NO_CACHE": "1"}
    print(
        paired(plan, typer, runs=args.runs, env=cold_env, cwd=str(work)).line(
            "`promote plan` (demo, PROMOTE_NO_CACHE=1: schema check every run)", "`import typer`"
        )
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
