"""One W&B promotion, whole process: `promote apply` against the same done with the wandb SDK.

Usage: .venv/bin/python benchmarks/wandb_promote.py [--runs 12] [--promote /tmp/bench/bin/promote]

Serves the W&B double (tests/servers/wandb_double, graphql-core) on 127.0.0.1 from this process,
seeded with examples/demo-registry.yaml, then alternates A = ``promote apply -p POLICY --registry
wandb://ml/demo`` and B = ``wandb_sdk_promote.py`` (the wandb SDK's public API, in its own
virtualenv, the one the conformance test uses: ALIASGATE_TEST_CACHE), resetting ``production`` to
v2 and the version's metadata before every run, outside the timing. Counts each side's requests
from the double's journal. Prints Markdown for benchmarks/README.md.

Run it with an interpreter that has graphql-core (the dev venv); pass ``--promote`` the executable
of a regular install (``python3 -m venv /tmp/bench && /tmp/bench/bin/pip install .``), as the other
benchmarks do.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
from common import Sample, load, run_once  # noqa: E402
from tests.servers.wandb_double import CI_KEY, WandbDouble, demo  # noqa: E402
from tests.wandb_fixtures import WANDB_SDK_VERSION, wandb_sdk_python  # noqa: E402

CLIENT = Path(__file__).with_name("wandb_sdk_promote.py")
POLICY = """version: 1
promotions:
  - name: ship
    model: bert-classifier
    from: staging
    to: production
    gates:
      - {metric: val_f1, min: 0.89}
      - {metric: val_loss, max: 0.35}
      - {metric: val_f1, beats: production, by: 0.005}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--promote", default=str(Path(sys.executable).with_name("promote")))
    parser.add_argument("--breakdown", action="store_true", help="also time the floors of A (medians)")
    parser.add_argument(
        "--git",
        action="store_true",
        help="keep the policy in a git repository (provenance then loads GitPython)",
    )
    args = parser.parse_args()

    sdk_python = str(wandb_sdk_python())
    world = demo(seed=ROOT / "examples" / "demo-registry.yaml")
    state, project = world.state, world.project
    coll = state.find_collection(project, "bert-classifier")
    assert coll is not None
    _, _, v4 = state.version_of(project, "bert-classifier", 4)
    pristine = (v4.metadata, coll.description)

    def reset() -> None:
        with state.lock:
            state.move_alias(project, "bert-classifier", "production", 2, as_user="ci-bot")
            state.move_alias(project, "bert-classifier", "staging", 4, as_user="ci-bot")
            v4.metadata, coll.description = pristine

    with WandbDouble(state) as double, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "policy.yaml").write_text(POLICY)
        if args.git:
            import subprocess

            git_env = {
                **os.environ,
                "GIT_AUTHOR_NAME": "b",
                "GIT_AUTHOR_EMAIL": "b@example.com",
                "GIT_COMMITTER_NAME": "b",
                "GIT_COMMITTER_EMAIL": "b@example.com",
            }
            for cmd in (["init", "-q"], ["add", "policy.yaml"], ["commit", "-q", "-m", "policy"]):
                subprocess.run(["git", *cmd], cwd=work, env=git_env, check=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PROMOTE_", "GITHUB_", "WANDB_"))}
        env = {**base, "HOME": str(work), "WANDB_BASE_URL": double.url, "WANDB_API_KEY": CI_KEY}
        for name in (
            "WANDB_DIR",
            "WANDB_CACHE_DIR",
            "WANDB_CONFIG_DIR",
            "WANDB_DATA_DIR",
            "WANDB_ARTIFACT_DIR",
        ):
            env[name] = str(work)
        env["WANDB_SILENT"] = "true"
        a_cmd = [args.promote, "apply", "-p", "policy.yaml", "--registry", "wandb://ml/demo"]
        b_cmd = [sdk_python, str(CLIENT), double.url, CI_KEY, "ml/demo/bert-classifier"]

        def one(cmd: list[str]) -> tuple[Sample, list[str]]:
            reset()
            double.journal.clear()
            sample = run_once(cmd, env=env, cwd=str(work))
            if sample.returncode != 0:
                raise SystemExit(f"{cmd[0]} exited {sample.returncode}: {double.journal.names()}")
            if state.holder(project, "bert-classifier", "production") != 4:
                raise SystemExit(f"{cmd} did not promote")
            names = [e.operation_name or ",".join(e.fields) for e in double.journal.entries]
            return sample, names

        for _ in range(args.warmup):
            one(a_cmd)
            one(b_cmd)
        a: list[Sample] = []
        b: list[Sample] = []
        a_ops: list[str] = []
        b_ops: list[str] = []
        for _ in range(args.runs):
            s, a_ops = one(a_cmd)
            a.append(s)
            s, b_ops = one(b_cmd)
            b.append(s)
        floors: dict[str, list[float]] = {}
        if args.breakdown:  # what A's time is made of, each a whole process, interleaved
            python = str(Path(args.promote).with_name("python"))
            parts = {
                "`promote --version` (interpreter, Typer, aliasgate)": [args.promote, "--version"],
                "`python -c 'import requests'`": [python, "-c", "import requests"],
                "`promote whoami` on W&B (1 request)": [
                    args.promote,
                    "whoami",
                    "--registry",
                    "wandb://ml/demo",
                ],
                "`promote plan` on W&B (2 requests)": [*a_cmd[:1], "plan", *a_cmd[2:]],
            }
            for _ in range(args.runs):
                for label, cmd in parts.items():
                    floors.setdefault(label, []).append(run_once(cmd, env=env, cwd=str(work)).wall)
        assert not double.internal_errors, double.internal_errors

    def rng(samples: list[Sample]) -> str:
        walls = [s.wall for s in samples]
        rss = statistics.median(s.max_rss_kib for s in samples) / 1024
        return f"{statistics.median(walls):.3f} s ({min(walls):.3f}–{max(walls):.3f}), {rss:.0f} MiB"

    ratio = statistics.median(y.wall / x.wall for x, y in zip(a, b, strict=True))
    print(
        f"<!-- {load()}; {args.runs} pairs after {args.warmup} warm-up pairs; wandb {WANDB_SDK_VERSION} -->"
    )
    print("| A: `promote apply` | B: wandb SDK script | B/A (median of pairs) | A requests | B requests |")
    print("|---|---|---|---|---|")
    print(f"| {rng(a)} | {rng(b)} | {ratio:.2f}x | {len(a_ops)} | {len(b_ops)} |")
    print()
    print("A sends:", ", ".join(a_ops))
    print("B sends:", ", ".join(f"{k} x{n}" if n > 1 else k for k, n in collections.Counter(b_ops).items()))
    if floors:
        print()
        print("| process | median (min–max) |")
        print("|---|---|")
        for label, walls in floors.items():
            print(f"| {label} | {statistics.median(walls):.3f} s ({min(walls):.3f}–{max(walls):.3f}) |")
    print(json.dumps({"a_ops": a_ops, "b_ops": b_ops}), file=sys.stderr)


if __name__ == "__main__":
    main()
