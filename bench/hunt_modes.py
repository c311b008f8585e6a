#!/usr/bin/env python3
"""Runs to detection of each planted bug by plain `explore` over the clean catalog, per
exploration mode (uniform seeds, --swarm, --guided), over several independent samples.

A benchmark, not a test: it prints a Markdown table for the README. One sample is one
seed range (`--seeds S..=S+budget-1`); the guided mode's own stream is seeded from S, so
each sample is independent. A bug not found within the budget counts as budget + 1 (so a
median over samples stays defined and penalises misses).

    python3 bench/hunt_modes.py --faultline target/release/faultline \
        --samples 5 --budget 60 --parallel 2
"""

import argparse
import concurrent.futures
import re
import statistics
import subprocess
import tempfile

BUGS = [
    "racy-produce-offset",
    "ack-before-replication",
    "unclean-leader-election",
    "truncate-to-high-watermark",
    "reads-above-high-watermark",
    "fsync-lies",
    "isr-change-not-persisted",
    "idempotence-without-dedup",
    "no-generation-fencing",
    "offsets-not-replicated",
    "headers-dropped",
]
MODES = ["uniform", "swarm", "guided"]
RUNS = re.compile(r"^(\d+) runs in .*?(\d+) invalid", re.M)


def runs_to_detection(faultline, scenarios, bug, mode, start, budget):
    """How many runs explore needed to find `bug` (budget + 1 if it did not)."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [faultline, "explore", scenarios, "--bug", bug,
               "--seeds", f"{start}..={start + budget - 1}", "--jobs", "1", "--out", out]
        if mode != "uniform":
            cmd.append(f"--{mode}")
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        found = RUNS.search(done.stdout + done.stderr)
        if not found:
            raise SystemExit(f"no run count in the output of {' '.join(cmd)}:\n{done.stderr}")
        runs, invalid = int(found.group(1)), int(found.group(2))
        return runs if invalid > 0 else budget + 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--faultline", default="target/release/faultline")
    parser.add_argument("--scenarios", default="scenarios")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--bugs", default=",".join(BUGS))
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    bugs = args.bugs.split(",")
    modes = args.modes.split(",")
    starts = [1 + 1000 * k for k in range(args.samples)]
    jobs = [(bug, mode, start) for bug in bugs for mode in modes for start in starts]
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
        results = list(pool.map(
            lambda j: runs_to_detection(args.faultline, args.scenarios, *j, args.budget), jobs))
    table = {}
    for (bug, mode, _), runs in zip(jobs, results):
        table.setdefault((bug, mode), []).append(runs)

    def cell(values):
        missed = sum(v > args.budget for v in values)
        median = statistics.median(values)
        shown = f"{median:g}" if median <= args.budget else f">{args.budget}"
        return shown + (f" ({missed} missed)" if missed else "")

    print(f"samples: seed ranges starting {starts}, budget {args.budget} runs each; "
          f"cell = median runs to detection over the samples (a miss counts {args.budget + 1})")
    print()
    print("| bug | " + " | ".join(modes) + " |")
    print("|---|" + "---:|" * len(modes))
    per_mode = {mode: [] for mode in modes}
    for bug in bugs:
        print(f"| {bug} | " + " | ".join(cell(table[(bug, m)]) for m in modes) + " |")
        for mode in modes:
            per_mode[mode].append(statistics.median(table[(bug, mode)]))
    print("| **median of the medians** | " + " | ".join(
        f"**{statistics.median(per_mode[m]):g}**" for m in modes) + " |")
    print("| **mean runs, all samples** | " + " | ".join(
        f"**{statistics.mean([v for b in bugs for v in table[(b, m)]]):.1f}**"
        for m in modes) + " |")
    print("| **misses** | " + " | ".join(
        f"{sum(v > args.budget for b in bugs for v in table[(b, m)])}/{len(bugs) * len(starts)}"
        for m in modes) + " |")


if __name__ == "__main__":
    main()
