#!/usr/bin/env python3
"""Several faultline builds over the catalog, interleaved: the README's before/after tables.

    python3 bench/compare_builds.py [--rounds 3] [--seeds 5] NAME=BINARY[:VAR=VALUE] ...

For each catalog scenario (`scenarios/*.toml`) and each round, every build runs
`faultline explore SCENARIO --jobs 1 --seeds 1..=N --keep-going` once, in turn, so a
disturbance of the shared machine falls on all of them alike; the least user+sys CPU time
per (scenario, build) is kept. An optional VAR=VALUE is set in that build's environment
(an allocator option, say). Prints a Markdown table: CPU s per seed and × real time
(`duration` + `recovery` per CPU second, as bench/sim_speed.py counts), then the catalog
average per build.
"""

import argparse
import os
import pathlib
import tempfile
import tomllib

from sim_speed import cpu_seconds, seconds

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("builds", nargs="+", help="NAME=BINARY[:VAR=VALUE]")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    builds = []
    for spec in args.builds:
        name, rest = spec.split("=", 1)
        env = {}
        if ":" in rest:
            rest, assignment = rest.split(":", 1)
            key, value = assignment.split("=", 1)
            env[key] = value
        builds.append((name, pathlib.Path(rest).resolve(), env))
    scenarios = sorted(ROOT.glob("scenarios/*.toml"))
    best = {}
    for scenario in scenarios:
        for _ in range(args.rounds):
            for name, binary, env in builds:
                with tempfile.TemporaryDirectory() as out:
                    cpu = cpu_seconds(binary, scenario, args.seeds, out, env)
                key = (scenario.stem, name)
                best[key] = min(best.get(key, float("inf")), cpu / args.seeds)
    names = [name for name, _, _ in builds]
    print("| scenario | simulated s | " + " | ".join(f"{n}: CPU s per seed (×)" for n in names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    totals = {name: 0.0 for name in names}
    for scenario in scenarios:
        spec = tomllib.loads(scenario.read_text())
        simulated = seconds(spec.get("duration", "60s")) + seconds(spec.get("recovery", "5s"))
        cells = []
        for name in names:
            cpu = best[(scenario.stem, name)]
            totals[name] += cpu
            cells.append(f"{cpu:.4f} ({simulated / cpu:.0f}×)")
        print(f"| {scenario.stem} | {simulated:.0f} | " + " | ".join(cells) + " |")
    averages = [totals[name] / len(scenarios) for name in names]
    print("| **catalog average** | | " + " | ".join(f"**{a:.4f}**" for a in averages) + " |")
    print()
    for name, average in zip(names, averages):
        print(f"{name}: {3600 / average:,.0f} runs/hour per core, {7200 / average:,.0f} on 2 cores")


if __name__ == "__main__":
    main()
