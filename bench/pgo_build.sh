#!/usr/bin/env bash
# A profile-guided (PGO) release build of faultline: the fastest binary for long
# campaigns and CI seed budgets (issue #17). Same program, same trace hashes; only the
# machine code is laid out and inlined after where a run spends its time.
#
#     bash bench/pgo_build.sh            # -> target/pgo/release/faultline
#
# 1. builds an instrumented binary (rustc -Cprofile-generate) into target/pgo-generate;
# 2. trains it: `explore` over every catalog scenario, seeds 100001..=100002 (not the
#    seeds bench/sim_speed.py measures or the campaigns run);
# 3. merges the counts with the toolchain's own llvm-profdata (rustup component
#    llvm-tools, installed here if missing: its LLVM must be rustc's);
# 4. builds the release binary with -Cprofile-use into target/pgo.
#
# RUSTFLAGS replaces .cargo/config.toml's build.rustflags, so `--cfg tokio_unstable`
# (turmoil's seeded runtimes; faultline-sim refuses to build without it) is repeated here.
# Takes two release builds (~10 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
data="$root/target/pgo-data"
profile="$root/target/pgo/merged.profdata"

sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$sysroot/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
  rustup component add llvm-tools
fi

rm -rf "$data"
mkdir -p "$root/target/pgo"
RUSTFLAGS="--cfg tokio_unstable -Cprofile-generate=$data" \
  cargo build --release --locked --target-dir "$root/target/pgo-generate"

train=$(mktemp -d)
trap 'rm -rf "$train"' EXIT
for scenario in scenarios/*.toml; do
  # Expected-loss scenarios exit non-zero; their runs still count.
  "$root/target/pgo-generate/release/faultline" explore "$scenario" --jobs 1 \
    --seeds 100001..=100002 --keep-going --out "$train" >/dev/null 2>&1 || true
done
"$profdata" merge -o "$profile" "$data"

RUSTFLAGS="--cfg tokio_unstable -Cprofile-use=$profile" \
  cargo build --release --locked --target-dir "$root/target/pgo"
echo "PGO build: $root/target/pgo/release/faultline"
