#!/usr/bin/env bash
# A profile-guided (PGO + BOLT) release build of faultline: the fastest binary for long
# campaigns and CI seed budgets (issue #17). Same program, same trace hashes; only the
# machine code is laid out and inlined after where a run spends its time.
#
#     bash bench/pgo_build.sh            # -> target/pgo/release/faultline
#     FAULTLINE_NO_BOLT=1 bash bench/pgo_build.sh   # PGO only (steps 1-4)
#
# 1. builds an instrumented binary (rustc -Cprofile-generate) into target/pgo-generate;
# 2. trains it: `explore` over every catalog scenario, seeds 100001..=100002 (not the
#    seeds bench/sim_speed.py measures or the campaigns run);
# 3. merges the counts with the toolchain's own llvm-profdata (rustup component
#    llvm-tools, installed here if missing: its LLVM must be rustc's);
# 4. builds the release binary with -Cprofile-use into target/pgo, linked with
#    --emit-relocs when BOLT will run, so that BOLT may move functions;
# 5. BOLT (LLVM's post-link optimizer, Debian's bolt-19, installed here if missing):
#    instruments that binary, trains it on the same runs, and rewrites it in place with
#    hot code packed together (functions ordered by call graph, blocks by ext-tsp, cold
#    blocks split off). A simulated run steps every busy host's runtime every tick and
#    walks ~2 MB of hot code doing it, so instruction-cache locality is what is left to
#    win once PGO has inlined: 1.02-1.07x over PGO alone on the catalog (five
#    interleaved comparisons, bench/compare_builds.py, session 19; README, Benchmarks).
#    Without llvm-bolt (and no apt-get to install it) the script says so first and
#    builds PGO only.
#
# RUSTFLAGS replaces .cargo/config.toml's build.rustflags, so `--cfg tokio_unstable`
# (turmoil's seeded runtimes; faultline-sim refuses to build without it) is repeated here.
# Takes two release builds and a minute of BOLT (~12 minutes on 2 cores).
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

# BOLT, found (or installed) before the builds: the profile-use build keeps relocations
# only for it, and a missing tool is said before ten minutes of building, not after.
find_bolt() {
  command -v llvm-bolt || ls /usr/lib/llvm-*/bin/llvm-bolt 2>/dev/null | tail -1 || true
}
bolt=""
if [ -z "${FAULTLINE_NO_BOLT:-}" ]; then
  bolt=$(find_bolt)
  if [ -z "$bolt" ] && command -v apt-get >/dev/null; then
    echo "installing BOLT (Debian package bolt-19)" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    { $sudo apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq bolt-19 >/dev/null; } || true
    bolt=$(find_bolt)
  fi
  if [ -z "$bolt" ]; then
    echo "no llvm-bolt (Debian/Ubuntu: apt-get install bolt-19): building PGO only" >&2
  fi
fi
relocs=""
[ -z "$bolt" ] || relocs="-Clink-arg=-Wl,--emit-relocs"

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

binary="$root/target/pgo/release/faultline"
# BOLT rewrites the binary in place and refuses its own output: removing it makes cargo
# link afresh even when nothing else changed.
rm -f "$binary"
RUSTFLAGS="--cfg tokio_unstable -Cprofile-use=$profile $relocs" \
  cargo build --release --locked --target-dir "$root/target/pgo"
if [ -z "$bolt" ]; then
  echo "PGO build: $binary"
  exit 0
fi
fdata="$root/target/pgo/bolt.fdata"
rm -f "$fdata" "$binary.instrumented" "$binary.bolt"
"$bolt" "$binary" -instrument -instrumentation-file="$fdata" \
  -o "$binary.instrumented" >/dev/null
# One process over the whole catalog: the profile is written when it exits.
"$binary.instrumented" explore scenarios --jobs 1 --seeds 100001..=100002 --keep-going \
  --out "$train/bolt" >/dev/null 2>&1 || true
# The optimizations BOLT's README recommends (llvm-project bolt/README.md; functions
# ordered by cdsort, its newer call-graph order), identical-code folding, and the line
# tables kept for panics' backtraces.
"$bolt" "$binary" -o "$binary.bolt" -data="$fdata" \
  -reorder-blocks=ext-tsp -reorder-functions=cdsort -split-functions -split-all-cold \
  -split-eh -icf=1 -use-gnu-stack -update-debug-sections >/dev/null
mv "$binary.bolt" "$binary"
rm -f "$binary.instrumented"
echo "PGO + BOLT build: $binary"
