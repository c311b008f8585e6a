#!/usr/bin/env python3
"""A clean campaign over the scenario catalog: one command, shardable, resumable.

    python3 bench/campaign.py RUNS [--jobs J] [--shard K/N] [--out DIR] [--chunk SEEDS]
    python3 bench/campaign.py RUNS --report-only        # merge + write docs/campaigns/

RUNS is the number of runs wanted over the catalog (`scenarios/*.toml`); the campaign
runs seeds 1..=ceil(RUNS / scenarios) of every catalog scenario with `faultline explore`
(round-robin over the catalog, so each scenario gets the same seeds), in chunks of
`--chunk` seeds. A chunk is done once its `summary.json` and `cpu.txt` are in
`OUT/chunks/NNNNN/`, so a killed campaign picks up at the first unfinished chunk.
`--shard K/N` runs only chunks with index % N == K - 1 (one shard per machine or per
process, all writing into the same or copied-together OUT). When every chunk is present,
the chunks are joined with `faultline merge` and the merged summary is written as
Markdown and JSON under `docs/campaigns/<date>-<runs>/` (per-scenario runs, anomalies,
invariant violations, CPU time, seeds/hour on 2 cores, the commit and the commands).

A scenario that documents a loss (`checks.expect`, e.g. power loss under fsync=never)
passes when its run shows only the expected anomaly kinds, as `faultline run` judges it;
its report folders are then deleted to keep the disk small. Every other anomaly, every
unknown verdict and every run that could not complete stops the campaign (exit 1).
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import pathlib
import shutil
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def catalog():
    """The catalog proper (not regressions/, negative/ or targets/), sorted as explore sorts it."""
    files = sorted((ROOT / "scenarios").glob("*.toml"))
    scenarios = []
    for path in files:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
        scenarios.append(
            {
                "file": str(path.relative_to(ROOT)),
                "name": doc["name"],
                "expect": doc.get("checks", {}).get("expect", []),
                "invariants": doc.get("checks", {}).get("invariants", True),
            }
        )
    return scenarios


def chunk_ranges(seeds, chunk):
    """[(index, first_seed, end_seed_excluded)] covering seeds 1..=seeds."""
    count = math.ceil(seeds / chunk)
    return [(i, 1 + i * chunk, min(1 + (i + 1) * chunk, seeds + 1)) for i in range(count)]


def commit():
    out = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def classify(row, expected):
    """'valid', 'as-documented' (an expected-loss scenario showing only its loss) or a problem."""
    kinds = set(row["anomaly_kinds"])
    if row["verdict"] == "valid" and not kinds:
        return "valid"
    if expected.get(row["scenario"]) and kinds and kinds <= set(expected[row["scenario"]]):
        if row["verdict"] != "unknown":
            return "as-documented"
    return "problem"


def run_chunk(binary, out, index, first, end, jobs, expected):
    final = out / "chunks" / f"{index:05d}"
    if (final / "summary.json").exists() and (final / "cpu.txt").exists():
        return "done before"
    work = out / "chunks" / f"{index:05d}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    command = [
        "/usr/bin/time", "-f", "%e %U %S", "-o", str(work / "cpu.txt"),
        str(binary), "explore", "scenarios/", "--seeds", f"{first}..{end}",
        "--jobs", str(jobs), "--keep-going", "--out", str(work),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    # explore: 0 = every run valid, 1 = anomalies (the expected-loss scenarios always have
    # them; classified below), anything else = a run that could not complete.
    if done.returncode not in (0, 1):
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"chunk {index} (seeds {first}..{end}): explore exited {done.returncode}")
    summary = json.loads((work / "summary.json").read_text())
    problems = [r for r in summary["runs"] if classify(r, expected) == "problem"]
    for row in summary["runs"]:
        if row.get("report_dir") and classify(row, expected) == "as-documented":
            shutil.rmtree(work / row["report_dir"], ignore_errors=True)
    for name in {r["scenario"] for r in summary["runs"]}:
        folder = work / name
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    work.rename(final)
    if problems:
        for row in problems[:10]:
            print(f"  PROBLEM {row['scenario']} seed {row['seed']}: {row['verdict']} "
                  f"{row['anomaly_kinds']} → {final / (row.get('report_dir') or '')}")
            print(f"    repro: {row['repro']}")
        raise SystemExit(f"chunk {index}: {len(problems)} run(s) with unexpected anomalies")
    return "ran"


def cpu_of(chunk_dir):
    wall, user, system = (float(x) for x in (chunk_dir / "cpu.txt").read_text().split()[-3:])
    return wall, user + system


def report(binary, out, runs_wanted, seeds, chunks, scenarios, docs, commands):
    dirs = [out / "chunks" / f"{i:05d}" for i, _, _ in chunks]
    missing = [d for d in dirs if not (d / "summary.json").exists()]
    if missing:
        print(f"{len(dirs) - len(missing)} of {len(dirs)} chunks present; "
              f"the report waits for all (first missing: {missing[0].name})")
        return False
    merged = out / "merged"
    subprocess.run(
        [str(binary), "merge", *map(str, dirs), "--out", str(merged)],
        cwd=ROOT, check=False, capture_output=True,
    )
    summary = json.loads((merged / "summary.json").read_text())
    expected = {s["name"]: s["expect"] for s in scenarios}
    per = {s["name"]: {"file": s["file"], "runs": 0, "valid": 0, "as_documented": 0,
                       "unexpected_anomalies": 0, "unknown": 0, "invariant_violations": 0,
                       "invariant_checks": s["invariants"], "expect": s["expect"]}
           for s in scenarios}
    digest = hashlib.sha256()
    for row in sorted(summary["runs"], key=lambda r: (r["scenario"], r["seed"])):
        digest.update(f"{row['scenario']} {row['seed']} {row['trace_hash']} {row['verdict']}\n".encode())
        entry = per[row["scenario"]]
        entry["runs"] += 1
        kind = classify(row, expected)
        if kind == "valid":
            entry["valid"] += 1
        elif kind == "as-documented":
            entry["as_documented"] += 1
        else:
            entry["unexpected_anomalies"] += 1
        if row["verdict"] == "unknown":
            entry["unknown"] += 1
        if "invariant" in row["anomaly_kinds"] and "invariant" not in expected[row["scenario"]]:
            entry["invariant_violations"] += 1
    wall = cpu = 0.0
    for d in dirs:
        w, c = cpu_of(d)
        wall, cpu = wall + w, cpu + c
    total = sum(e["runs"] for e in per.values())
    totals = {
        "runs": total,
        "valid": sum(e["valid"] for e in per.values()),
        "as_documented": sum(e["as_documented"] for e in per.values()),
        "unexpected_anomalies": sum(e["unexpected_anomalies"] for e in per.values()),
        "unknown": sum(e["unknown"] for e in per.values()),
        "invariant_violations": sum(e["invariant_violations"] for e in per.values()),
        "runs_with_invariant_checks": sum(e["runs"] for e in per.values() if e["invariant_checks"]),
        "cpu_seconds": round(cpu, 1),
        "wall_seconds_summed_over_chunks": round(wall, 1),
        "seeds_per_hour_per_core": round(total / cpu * 3600) if cpu else None,
        "seeds_per_hour_2_cores": round(2 * total / cpu * 3600) if cpu else None,
    }
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    folder = docs or (ROOT / "docs" / "campaigns" / f"{date}-{total}")
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "commit": commit(),
        "date": date,
        "commands": commands,
        "seeds": f"1..={seeds}",
        "runs_wanted": runs_wanted,
        "scenarios": len(scenarios),
        "totals": totals,
        "per_scenario": per,
        "trace_digest_sha256": digest.hexdigest(),
        "faultline_summary_totals": summary["totals"],
    }
    (folder / "summary.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        f"# Campaign: {total:,} runs of the catalog ({date})",
        "",
        f"Commit at report time `{record['commit']}`; seeds {record['seeds']} of each of the "
        f"{len(scenarios)} catalog scenarios (`scenarios/*.toml`), invariant checks on "
        f"in {totals['runs_with_invariant_checks']:,} runs.",
        "",
        "| totals | |",
        "|---|---:|",
        f"| runs | {total:,} |",
        f"| valid | {totals['valid']:,} |",
        f"| documented loss, as expected (`checks.expect`) | {totals['as_documented']:,} |",
        f"| **unexpected anomalies** | **{totals['unexpected_anomalies']}** |",
        f"| **invariant violations** | **{totals['invariant_violations']}** |",
        f"| unknown verdicts | {totals['unknown']} |",
        f"| CPU (user+sys) | {cpu:,.0f} s ({cpu / 3600:.2f} h) |",
        f"| seeds/hour per core (runs per CPU-hour) | {totals['seeds_per_hour_per_core']:,} |",
        f"| seeds/hour on 2 cores (2 × per core) | {totals['seeds_per_hour_2_cores']:,} |",
        "",
        "| scenario | runs | valid | as documented | unexpected anomalies | invariant violations | invariant checks |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, e in per.items():
        lines.append(
            f"| {name} | {e['runs']:,} | {e['valid']:,} | {e['as_documented']:,} | "
            f"{e['unexpected_anomalies']} | {e['invariant_violations']} | "
            f"{'on' if e['invariant_checks'] else 'off'} |"
        )
    lines += [
        "",
        f"Trace digest (sha256 over sorted `scenario seed trace_hash verdict` lines): "
        f"`{record['trace_digest_sha256']}` — a rerun of the same commit and seeds gives the same digest.",
        "",
        "Commands:",
        "",
        "```",
        *commands,
        "```",
        "",
    ]
    (folder / "summary.md").write_text("\n".join(lines))
    print(f"campaign report: {folder / 'summary.md'}")
    print("\n".join(lines[4:16]))
    return totals["unexpected_anomalies"] == 0 and totals["unknown"] == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=int, help="runs wanted over the catalog")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--shard", help="K/N: run only chunks with index %% N == K - 1")
    parser.add_argument("--chunk", type=int, default=50, help="seeds per chunk (default 50)")
    parser.add_argument("--out", type=pathlib.Path, help="default faultline-out/campaign-RUNS")
    parser.add_argument("--docs", type=pathlib.Path, help="report folder (default docs/campaigns/DATE-RUNS)")
    parser.add_argument("--binary", type=pathlib.Path, default=ROOT / "target/release/faultline")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    scenarios = catalog()
    seeds = math.ceil(args.runs / len(scenarios))
    chunks = chunk_ranges(seeds, args.chunk)
    out = (args.out or ROOT / "faultline-out" / f"campaign-{args.runs}").resolve()
    expected = {s["name"]: s["expect"] for s in scenarios}
    shard = None
    if args.shard:
        k, n = (int(x) for x in args.shard.split("/"))
        if not 1 <= k <= n:
            raise SystemExit("--shard K/N needs 1 <= K <= N")
        shard = (k - 1, n)
    if not args.binary.exists():
        subprocess.run(["cargo", "build", "--release", "--bin", "faultline"], cwd=ROOT, check=True)
    here = " ".join(sys.argv[1:])
    commands = [
        "cargo build --release --bin faultline",
        f"python3 bench/campaign.py {here}",
        f"# each chunk: faultline explore scenarios/ --seeds A..B --jobs {args.jobs} --keep-going --out {out.name}/chunks/NNNNN",
        f"# then: faultline merge {out.name}/chunks/* --out {out.name}/merged",
    ]
    if not args.report_only:
        mine = [c for c in chunks if shard is None or c[0] % shard[1] == shard[0]]
        print(f"campaign: {len(scenarios)} scenarios × seeds 1..={seeds} = "
              f"{seeds * len(scenarios):,} runs in {len(chunks)} chunks; this process: "
              f"{len(mine)} chunks, {args.jobs} job(s) → {out}")
        for index, first, end in mine:
            status = run_chunk(args.binary, out, index, first, end, args.jobs, expected)
            if status == "ran":
                wall, cpu = cpu_of(out / "chunks" / f"{index:05d}")
                runs = (end - first) * len(scenarios)
                print(f"  chunk {index:05d} seeds {first}..{end}: {runs} runs clean, "
                      f"{wall:.0f} s wall, {cpu:.0f} s CPU ({runs / cpu * 3600:,.0f} runs/CPU-hour)",
                      flush=True)
    ok = report(args.binary, out, args.runs, seeds, chunks, scenarios, args.docs, commands)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
