#!/usr/bin/env python3
"""Simulation speed per catalog scenario: the README's benchmark table.

    python3 bench/sim_speed.py [--binary target/release/faultline] [--seeds 5] [--repeats 3]
                               [SCENARIO.toml ...]

For each scenario (default: the catalog, `scenarios/*.toml`) it runs
`faultline explore SCENARIO --jobs 1 --seeds 1..=N --keep-going` REPEATS times and keeps the smallest
user+sys CPU time (the machine is shared; the minimum is the least disturbed run). CPU s
per seed = that / N; × real time = simulated seconds (the scenario's `duration` +
`recovery`, the fault phase and the recovery bound, as the README has always counted)
per CPU second. Prints a Markdown table, then seeds/hour for the whole catalog on 2
cores (one seed of every scenario in turn, 2 × the per-core rate).
"""

import argparse
import os
import pathlib
import re
import resource
import subprocess
import sys
import tempfile
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0}


def seconds(text):
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"duration {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def cpu_seconds(binary, scenario, seeds, out, env=None):
    """User+sys CPU seconds of one `explore` run, to the microsecond (the kernel's
    accounting of the waited-for child, `getrusage(RUSAGE_CHILDREN)` before and after;
    `/usr/bin/time -f %U` prints hundredths, 2 ms per seed over 5 seeds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [str(binary), "explore", str(scenario), "--jobs", "1", "--seeds", f"1..={seeds}",
         "--keep-going", "--out", out],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        env={**os.environ, **(env or {})},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", type=pathlib.Path)
    parser.add_argument("--binary", type=pathlib.Path, default=ROOT / "target/release/faultline")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    files = args.scenarios or sorted((ROOT / "scenarios").glob("*.toml"))
    print("| scenario | tick | simulated s | CPU s per seed | seeds/s per core | × real time |")
    print("|---|---|---:|---:|---:|---:|")
    total_cpu = 0.0
    with tempfile.TemporaryDirectory() as out:
        for path in files:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
            simulated = seconds(doc.get("duration", "60s")) + seconds(doc.get("recovery", "5s"))
            best = min(cpu_seconds(args.binary, path, args.seeds, out) for _ in range(args.repeats))
            per_seed = best / args.seeds
            total_cpu += per_seed
            print(f"| {doc['name']} | {doc.get('tick', '5ms')} | {simulated:.0f} | {per_seed:.4f} | "
                  f"{1 / per_seed:.1f} | {simulated / per_seed:,.0f}× |", flush=True)
    per_hour = 3600 / (total_cpu / len(files))
    print(f"\nCatalog ({len(files)} scenarios, one seed each in turn): {total_cpu / len(files):.4f} CPU s "
          f"per run on average, {per_hour:,.0f} runs/hour per core, {2 * per_hour:,.0f} runs/hour on 2 cores.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
