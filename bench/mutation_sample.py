#!/usr/bin/env python3
"""The broker model's mutation score under the simulation (issue #14 item 6, docs/mutation.md).

    python3 bench/mutation_sample.py list   [--seed S] [--size N] [--out DIR]
    python3 bench/mutation_sample.py run    [--out DIR] [--until HH:MM] [--timeout SECONDS]
    python3 bench/mutation_sample.py rerun  [--out DIR] [--until HH:MM] [--timeout SECONDS]
    python3 bench/mutation_sample.py report [--out DIR]

`list` asks cargo-mutants (27.x, `cargo install cargo-mutants --locked`) for every mutant
of the files in scope (`.cargo/mutants.toml`; Debug/Display impls left out), and draws a seeded
random sample of N of them with Python's `random.Random(S).sample` (the draw's order is
the run order, so any prefix of it is itself a uniform random sample). It writes
`DIR/all.json` (cargo-mutants' listing) and `DIR/sample.json` (the names, in order).

`run` takes the sample in order and runs cargo-mutants once per mutant, `--in-place`
(the worktree's warm `target/debug`: a scratch copy would rebuild every dependency),
`--baseline skip`, the test being the simulation alone (`.cargo/mutants.toml`):
`cargo test -p faultline-sim --test mutation_probe -- --ignored` (`sim/tests/mutation_probe.rs`: the clean catalog on
fixed seeds, invariant checker on). Each outcome lands in `DIR/outcomes.jsonl`; a run
stopped early (`--until`, Ctrl-C) resumes at the first mutant without an outcome. After
each mutant the script checks that `git diff` of broker-model is empty, and stops if not.

The sample is drawn at one commit and names each mutant `file:line:col: what`; the broker
changes after the draw move lines. `run` and `rerun` therefore resolve each sampled name
against the current listing (`cargo mutants --list`): the same name if it still exists,
else the mutant of the same file and description nearest the old line; a mutant whose code
is gone is recorded `gone` and left out. Each outcome records the commit it ran on.

`rerun` runs every sampled mutant whose latest outcome is `survived` again, with the probe as
it is now (new checks, new scenarios); the newest outcome of a mutant is the one `report`
counts. Checks only ever get stronger, so a mutant once killed stays killed.

`report` prints the Markdown table (file -> sampled / killed / survived / timeout /
unviable), the score over viable mutants with its Wilson 95% interval, and the survivors.
Mutants judged equivalent are listed in `bench/mutation_equivalent.txt` (one name per
line, then a tab and the reason) and left out of the score's denominator.
"""

import argparse
import datetime
import json
import math
import os
import pathlib
import random
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_OUT = pathlib.Path("/tmp/faultline-mutants")
SEED = 14006
SIZE = 150

# The files in scope, as `.cargo/mutants.toml` names them (`examine_globs`, which also
# leaves Debug/Display impls out and makes the probe the test); here for the table's order.
FILES = [
    "broker-model/src/partition.rs",
    "broker-model/src/replica_fetcher.rs",
    "broker-model/src/controller.rs",
    "broker-model/src/controller/topics.rs",
    "broker-model/src/log.rs",
    "broker-model/src/append.rs",
    "broker-model/src/idempotence.rs",
    "broker-model/src/producer_state.rs",
    "broker-model/src/group/mod.rs",
    "broker-model/src/group/membership.rs",
    "broker-model/src/group/offsets.rs",
    "broker-model/src/group/transactional.rs",
    "broker-model/src/handlers/produce.rs",
    "broker-model/src/handlers/fetch.rs",
]


def cargo_mutants(*args, capture=True):
    command = ["cargo", "mutants", *args]
    # cargo-mutants passes RUSTFLAGS on (with its own additions) and ignores
    # .cargo/config.toml's build.rustflags, which carry `--cfg tokio_unstable`: without it
    # tokio seeds itself per process and the probe's runs are not reproducible
    # (faultline-sim now refuses to compile without it).
    env = dict(os.environ)
    env["RUSTFLAGS"] = (env.get("RUSTFLAGS", "") + " --cfg tokio_unstable").strip()
    return subprocess.run(command, cwd=ROOT, check=False, text=True, env=env,
                          stdout=subprocess.PIPE if capture else None)


def list_mutants(args):
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    listed = cargo_mutants("--list", "--json", "--package", "faultline-broker")
    if listed.returncode != 0:
        sys.exit(f"cargo mutants --list failed ({listed.returncode})")
    mutants = json.loads(listed.stdout)
    (out / "all.json").write_text(json.dumps(mutants, indent=1))
    names = [name_of(m) for m in mutants]
    sample = random.Random(args.seed).sample(names, min(args.size, len(names)))
    (out / "sample.json").write_text(json.dumps(
        {"seed": args.seed, "population": len(names), "commit": head(), "mutants": sample},
        indent=1))
    per_file = {}
    for m in mutants:
        per_file[m["file"]] = per_file.get(m["file"], 0) + 1
    for f in FILES:
        print(f"{per_file.get(f, 0):5} {f}")
    print(f"{len(names)} mutants in scope; sample of {len(sample)} with seed {args.seed}")


def name_of(mutant):
    """cargo-mutants' own name for a mutant (what `--re` matches and `--list` prints)."""
    return mutant["name"]


def head():
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, check=True).stdout.strip()


def done_outcomes(out):
    path = out / "outcomes.jsonl"
    if not path.exists():
        return {}
    return {o["name"]: o for o in map(json.loads, path.read_text().splitlines())}


def current_names(out):
    """The mutants cargo-mutants lists at HEAD (cached per commit in OUT)."""
    commit = head()
    path = out / f"current-{commit[:12]}.json"
    if not path.exists():
        listed = cargo_mutants("--list", "--json", "--package", "faultline-broker")
        if listed.returncode != 0:
            sys.exit(f"cargo mutants --list failed ({listed.returncode})")
        path.write_text(json.dumps([name_of(m) for m in json.loads(listed.stdout)], indent=1))
    return json.loads(path.read_text())


def resolve(name, current):
    """The current name of a sampled mutant: itself, or the same file and description at
    the nearest line; None when that code is gone."""
    if name in current:
        return name
    path, line, _col, what = name.split(":", 3)
    candidates = []
    for other in current:
        o_path, o_line, _o_col, o_what = other.split(":", 3)
        if o_path == path and o_what == what:
            candidates.append((abs(int(o_line) - int(line)), other))
    return min(candidates)[1] if candidates else None


def run_one(out, index, name, current, args, label):
    """Runs one sampled mutant (resolved to its current name) and appends its outcome."""
    started = time.monotonic()
    now_name = resolve(name, current)
    if now_name is None:
        outcome = {"name": name, "summary": "gone"}
    else:
        scratch = out / label / f"{index:03}"
        scratch.mkdir(parents=True, exist_ok=True)
        result = cargo_mutants(*select(now_name, scratch), "--in-place", "--baseline", "skip",
                               "--timeout", str(args.timeout), "-o", str(scratch))
        outcome = outcome_of(scratch, now_name)
        if outcome["summary"] == "missing":
            sys.exit(f"cargo-mutants gave no outcome for {now_name!r} (exit {result.returncode})")
        outcome["name"] = name
        if now_name != name:
            outcome["as"] = now_name
    outcome["seconds"] = round(time.monotonic() - started, 1)
    outcome["index"] = index
    outcome["commit"] = head()[:12]
    with open(out / "outcomes.jsonl", "a") as f:
        f.write(json.dumps(outcome) + "\n")
    print(f"[{index + 1}] {outcome['summary']:9} {outcome['seconds']:6.1f}s {name}", flush=True)
    clean = subprocess.run(["git", "diff", "--quiet", "--", "broker-model"], cwd=ROOT)
    if clean.returncode != 0:
        sys.exit("broker-model is left mutated: `git diff broker-model`, then restore it")
    return outcome


def past(deadline):
    return deadline and datetime.datetime.now(datetime.timezone.utc) >= deadline


def deadline_of(args):
    if not args.until:
        return None
    hour, minute = map(int, args.until.split(":"))
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.replace(hour=hour, minute=minute, second=0, microsecond=0)


def rerun_survivors(args):
    out = pathlib.Path(args.out)
    sample = json.loads((out / "sample.json").read_text())["mutants"]
    done = done_outcomes(out)
    equivalent = equivalents()
    current = current_names(out)
    deadline = deadline_of(args)
    only = {int(n) for n in args.only.split(",")} if args.only else None
    for index, name in enumerate(sample):
        if done.get(name, {}).get("summary") != "survived" or name in equivalent:
            continue
        if only is not None and index + 1 not in only:
            continue
        if past(deadline):
            print(f"stopped at {args.until} UTC")
            return
        run_one(out, index, name, current, args, "reruns")


def run_sample(args):
    out = pathlib.Path(args.out)
    sample = json.loads((out / "sample.json").read_text())["mutants"]
    done = done_outcomes(out)
    current = current_names(out)
    deadline = deadline_of(args)
    for index, name in enumerate(sample):
        if name in done:
            continue
        if past(deadline):
            print(f"stopped at {args.until} UTC with {len(done)} of {len(sample)} done")
            return
        done[name] = run_one(out, index, name, current, args, "runs")
    return


def select(name, scratch):
    """cargo-mutants arguments that pick exactly the mutant `name`. `--re` alone is not
    enough: cargo-mutants 27.1.0 adds its struct-field deletions (genre StructField)
    without applying `--re`/`--exclude-re` (src/visit.rs), so a one-line `--in-diff`
    of the mutant's own line keeps only the mutants that touch that line."""
    path, line = name.split(":")[:2]
    text = (ROOT / path).read_text().splitlines()[int(line) - 1]
    diff = scratch / "line.diff"
    diff.write_text(f"--- a/{path}\n+++ b/{path}\n@@ -{line},1 +{line},1 @@\n-{text}\n+{text}\n")
    return ["--package", "faultline-broker", "--in-diff", str(diff), "--re", "^" + regex_escape(name) + "$"]


def regex_escape(text):
    """Escapes for Rust's regex crate, where `\\<` and `\\>` are word boundaries (so
    Python's re.escape does not do: it escapes `>` in `-> i64`)."""
    return "".join("\\" + c if c in "\\.+*?()|[]{}^$" else c for c in text)


def outcome_of(scratch, name):
    """The mutant's outcome from cargo-mutants' outcomes.json: CaughtMutant, MissedMutant,
    Timeout or Unviable (also named by which of caught.txt, missed.txt ... lists it)."""
    path = scratch / "mutants.out" / "outcomes.json"
    if not path.exists():
        return {"name": name, "summary": "missing"}
    outcomes = json.loads(path.read_text())["outcomes"]
    for o in outcomes:
        scenario = o.get("scenario")
        if isinstance(scenario, dict) and scenario.get("Mutant", {}).get("name") == name:
            phases = {r["phase"]: round(r["duration"], 1) for r in o.get("phase_results", [])}
            return {"name": name, "summary": SUMMARIES.get(o["summary"], o["summary"]),
                    "phases": phases}
    return {"name": name, "summary": "missing"}


SUMMARIES = {"CaughtMutant": "killed", "MissedMutant": "survived", "Timeout": "timeout",
             "Unviable": "unviable"}


def wilson(successes, n, z=1.959964):
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def equivalents():
    path = ROOT / "bench" / "mutation_equivalent.txt"
    if not path.exists():
        return {}
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.partition("\t")
            pairs[name] = reason
    return pairs


def file_of(name):
    return name.split(":", 1)[0]


def report(args):
    out = pathlib.Path(args.out)
    sample = json.loads((out / "sample.json").read_text())
    done = done_outcomes(out)
    equivalent = equivalents()
    rows = {}
    gone = 0
    for name in sample["mutants"]:
        if name not in done:
            continue
        if done[name]["summary"] == "gone":
            gone += 1
            continue
        row = rows.setdefault(file_of(name), {"sampled": 0, "killed": 0, "survived": 0,
                                              "timeout": 0, "unviable": 0, "equivalent": 0})
        row["sampled"] += 1
        summary = done[name]["summary"]
        if summary == "survived" and name in equivalent:
            row["equivalent"] += 1
        else:
            row[summary] += 1
    print(f"sample seed {sample['seed']}, {sample['population']} mutants in scope at "
          f"{sample['commit'][:7]}, {len(done)} of {len(sample['mutants'])} sampled mutants run\n")
    print("| file | sampled | killed | survived | timeout | unviable | equivalent |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    total = {k: 0 for k in ["sampled", "killed", "survived", "timeout", "unviable", "equivalent"]}
    for f in FILES:
        if f in rows:
            r = rows[f]
            print(f"| `{f.removeprefix('broker-model/src/')}` | " +
                  " | ".join(str(r[k]) for k in total) + " |")
            for k in total:
                total[k] += r[k]
    print("| **total** | " + " | ".join(f"**{total[k]}**" for k in total) + " |\n")
    if gone:
        print(f"{gone} sampled mutant(s) left out: their code is gone from the current broker\n")
    detected = total["killed"] + total["timeout"]
    viable = detected + total["survived"]
    low, high = wilson(detected, viable)
    if viable:
        print(f"score: {detected}/{viable} = {detected / viable:.1%} of viable, non-equivalent "
              f"mutants (Wilson 95%: {low:.1%}–{high:.1%}); timeouts count as detected")
    print("\nsurvivors:")
    for name in sample["mutants"]:
        if done.get(name, {}).get("summary") == "survived":
            print(f"- {name}" + (f" — equivalent: {equivalent[name]}" if name in equivalent else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["list", "run", "rerun", "report"])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--until", help="UTC HH:MM after which no new mutant starts")
    parser.add_argument("--only", help="rerun: only these survivors, by their #N in docs/mutation.md (e.g. 122,142)")
    parser.add_argument("--timeout", type=int, default=240,
                        help="seconds for the probe test per mutant (about 3x its baseline)")
    args = parser.parse_args()
    {"list": list_mutants, "run": run_sample, "rerun": rerun_survivors,
     "report": report}[args.command](args)


if __name__ == "__main__":
    main()
