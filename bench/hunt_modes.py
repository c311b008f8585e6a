#!/usr/bin/env python3
"""Runs to detection of each planted bug by plain `explore` over the clean catalog, per
exploration mode (uniform seeds, --swarm, --guided), over several independent samples.

A benchmark, not a test: it prints a Markdown table for the README. One sample is one
seed range starting at S (1, 1001, 2001, ...); the guided mode's own stream is seeded
from S, so each sample is independent. Every mode gets the same budget of runs: guided
takes `--seeds S..=S+budget-1` as its run budget; uniform and swarm go round robin over
the k scenarios, seed by seed, so they get ceil(budget / k) seeds and a detection after
run `budget` counts as a miss. A miss counts budget + 1 (so a median over samples stays
defined and penalises misses).

`--leave-out-first-seed-finders` is the fair measure: on the full catalog every bug has a
scenario aimed at it that finds it at its first seed, so every mode ties at run 1-21. This
mode, for each bug and each sample, first runs every catalog scenario at the sample's
first seed S with the bug on (`faultline run FILE --seed S --bug NAME`) and leaves out
those that fail — computed, not hand-picked — then explores what is left.

Exploration then starts at seed S + 1 in every mode: at seed S what is left passes by
construction, which would hand uniform and guided (whose first pass is seed S) a wasted
pass that swarm (whose seed S draws another configuration) does not get. A bug that every
scenario finds at its first seed (racy-produce-offset) has nothing left to search and is
reported as such. `--left-out FILE` caches the computed lists (JSON), reused when present.

`--confirm` replays each detection without the bug (the failure folder's scenario.toml
with its `[bugs]` switched off): a failure that the clean broker also shows is a false
alarm, not a detection; it is counted as a miss and reported.

    python3 bench/hunt_modes.py --faultline target/release/faultline \\
        --samples 5 --budget 60 --parallel 2
    python3 bench/hunt_modes.py --leave-out-first-seed-finders --confirm \\
        --samples 3 --budget 80 --parallel 2
"""

import argparse
import concurrent.futures
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import tomllib

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
FAIL = re.compile(r"^\s*FAIL (\S+) seed (\d+): .*? → (\S+)$", re.M)


def catalog(scenarios):
    """The catalog's scenario files that `explore --bug` keeps (no expected anomalies)."""
    files = sorted(os.path.join(scenarios, f) for f in os.listdir(scenarios)
                   if f.endswith(".toml"))
    kept = []
    for path in files:
        with open(path, "rb") as f:
            if not tomllib.load(f).get("checks", {}).get("expect"):
                kept.append(path)
    return kept


def fails_at(faultline, path, seed, bug):
    """Whether `faultline run path --seed seed --bug bug` fails (invalid or unknown)."""
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([faultline, "run", path, "--seed", str(seed), "--bug", bug,
                               "--out", out], capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"faultline run {path} failed to run:\n{done.stderr}")
    return done.returncode != 0


def without_bugs(text):
    """A scenario's TOML with every `[bugs]` switch off."""
    lines, section = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
        if section == "[bugs]" and stripped.endswith("= true"):
            line = line.replace("= true", "= false")
        lines.append(line)
    return "\n".join(lines) + "\n"


def false_alarm(faultline, folder, seed):
    """Whether a failure folder's run also fails with every planted bug off."""
    with open(os.path.join(folder, "scenario.toml")) as f:
        clean = without_bugs(f.read())
    with tempfile.TemporaryDirectory() as out:
        path = os.path.join(out, "scenario.toml")
        with open(path, "w") as f:
            f.write(clean)
        done = subprocess.run([faultline, "run", path, "--seed", str(seed), "--out", out],
                              capture_output=True, text=True, check=False)
    return done.returncode != 0


def runs_to_detection(faultline, scenarios, count, bug, mode, start, budget, confirm):
    """How many runs explore needed to find `bug` (budget + 1 if it did not), and whether
    the detection was a false alarm."""
    if count == 0:
        return None, False
    with tempfile.TemporaryDirectory() as out:
        last = start + budget - 1 if mode == "guided" else start + math.ceil(budget / count) - 1
        cmd = [faultline, "explore", scenarios, "--bug", bug,
               "--seeds", f"{start}..={last}", "--jobs", "1", "--out", out]
        if mode != "uniform":
            cmd.append(f"--{mode}")
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        found = RUNS.search(done.stdout + done.stderr)
        if not found:
            raise SystemExit(f"no run count in the output of {' '.join(cmd)}:\n{done.stderr}")
        runs, invalid = int(found.group(1)), int(found.group(2))
        if invalid == 0 or runs > budget:
            return budget + 1, False
        if confirm:
            failed = FAIL.search(done.stdout)
            if failed and false_alarm(faultline, os.path.join(out, failed.group(3)),
                                      int(failed.group(2))):
                return budget + 1, True
        return runs, False


def left_out(faultline, scenarios, bug, start):
    """The catalog's scenarios that find `bug` at seed `start`."""
    return [p for p in catalog(scenarios) if fails_at(faultline, p, start, bug)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--faultline", default="target/release/faultline")
    parser.add_argument("--scenarios", default="scenarios")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--bugs", default=",".join(BUGS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--leave-out-first-seed-finders", action="store_true")
    parser.add_argument("--left-out", help="JSON cache of the computed left-out lists")
    parser.add_argument("--confirm", action="store_true")
    args = parser.parse_args()
    bugs = args.bugs.split(",")
    modes = args.modes.split(",")
    starts = [1 + 1000 * k for k in range(args.samples)]
    pool = concurrent.futures.ThreadPoolExecutor(args.parallel)
    keep = tempfile.TemporaryDirectory()
    # One scenario folder per (bug, sample): the whole catalog, or what is left of it.
    folders = {}
    if args.leave_out_first_seed_finders:
        cache = {}
        if args.left_out and os.path.exists(args.left_out):
            with open(args.left_out) as f:
                cache = json.load(f)
        pairs = [(bug, start) for bug in bugs for start in starts]
        todo = [p for p in pairs if f"{p[0]}@{p[1]}" not in cache]
        for (bug, start), gone in zip(todo, pool.map(
                lambda p: left_out(args.faultline, args.scenarios, *p), todo)):
            cache[f"{bug}@{start}"] = [os.path.basename(p)[:-5] for p in gone]
        if args.left_out:
            with open(args.left_out, "w") as f:
                json.dump(cache, f, indent=1)
        for bug, start in pairs:
            gone = [os.path.join(args.scenarios, n + ".toml") for n in cache[f"{bug}@{start}"]]
            folder = os.path.join(keep.name, f"{bug}-{start}")
            os.makedirs(folder)
            for path in catalog(args.scenarios):
                if path not in gone:
                    os.symlink(os.path.abspath(path),
                               os.path.join(folder, os.path.basename(path)))
            folders[(bug, start)] = folder
            print(f"left out for {bug} at seed {start}: "
                  f"{', '.join(os.path.basename(p)[:-5] for p in gone) or 'none'}",
                  file=sys.stderr, flush=True)
    else:
        for bug in bugs:
            for start in starts:
                folders[(bug, start)] = args.scenarios
    counts = {key: len(catalog(folder)) for key, folder in folders.items()}
    # Sample-major order: an interrupted run still covers every bug once.
    jobs = [(bug, mode, start) for start in starts for bug in bugs for mode in modes]

    first = 1 if args.leave_out_first_seed_finders else 0

    def measure(job):
        bug, mode, start = job
        result = runs_to_detection(args.faultline, folders[(bug, start)],
                                   counts[(bug, start)], bug, mode, start + first,
                                   args.budget, args.confirm)
        print(f"{bug} {mode} {start}: {result[0]}{' (false alarm)' if result[1] else ''}",
              file=sys.stderr, flush=True)
        return result

    results = list(pool.map(measure, jobs))
    table, alarms = {}, {mode: 0 for mode in modes}
    for (bug, mode, _), (runs, alarm) in zip(jobs, results):
        table.setdefault((bug, mode), []).append(runs)
        alarms[mode] += alarm

    def cell(values):
        if None in values:
            return "n/a (every scenario finds it at its first seed)"
        missed = sum(v > args.budget for v in values)
        median = statistics.median(values)
        shown = f"{median:g}" if median <= args.budget else f">{args.budget}"
        return shown + (f" ({missed} missed)" if missed else "")

    print(f"samples: seed ranges starting {starts}, budget {args.budget} runs each; "
          f"cell = median runs to detection over the samples (a miss counts {args.budget + 1})")
    if args.leave_out_first_seed_finders:
        print("scenarios per bug and sample (catalog minus first-seed finders): " + json.dumps(
            {f"{b}@{s}": n for (b, s), n in counts.items()}))
    print()
    print("| bug | " + " | ".join(modes) + " |")
    print("|---|" + "---:|" * len(modes))
    per_mode = {mode: [] for mode in modes}
    for bug in bugs:
        print(f"| {bug} | " + " | ".join(cell(table[(bug, m)]) for m in modes) + " |")
        for mode in modes:
            if None not in table[(bug, mode)]:
                per_mode[mode].append(statistics.median(table[(bug, mode)]))
    measured = [b for b in bugs if None not in table[(b, modes[0])]]
    print("| **median of the medians** | " + " | ".join(
        f"**{statistics.median(per_mode[m]):g}**" for m in modes) + " |")
    print("| **mean runs, all samples** | " + " | ".join(
        f"**{statistics.mean([v for b in measured for v in table[(b, m)]]):.1f}**"
        for m in modes) + " |")
    print("| **misses** | " + " | ".join(
        f"{sum(v > args.budget for b in measured for v in table[(b, m)])}/{len(measured) * len(starts)}"
        for m in modes) + " |")
    if args.confirm:
        print("| **false alarms (failed without the bug too; counted as misses)** | " +
              " | ".join(str(alarms[m]) for m in modes) + " |")


if __name__ == "__main__":
    main()
