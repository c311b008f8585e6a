#!/usr/bin/env bash
# Linearizability at scale (issue 17): generates 100,000-op register histories with 10, 20
# and 50 processes, valid and with one planted stale read, and times `faultline check` on
# each under /usr/bin/time -v (CPU = user + sys, so a loaded machine's waits don't count;
# peak RSS of the whole process). Prints one Markdown row per run, as in docs/checkers.md.
#
#   cargo build --release -p faultline --bin faultline \
#       -p faultline-checker --example generate_register_history
#   [OPS=100000] bash checker/benches/register-scale.sh [OUT_DIR] [-- extra check flags]
#
# Extra flags go to `faultline check`, e.g. `-- --no-fast-path --max-steps 100000000`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-/tmp/faultline-register-scale}
shift || true
[[ ${1:-} == "--" ]] && shift
bin=${FAULTLINE_BIN:-$repo/target/release/faultline}
generator=${GENERATOR_BIN:-$repo/target/release/examples/generate_register_history}
mkdir -p "$out"
for processes in 10 20 50; do
  for violations in 0 1; do
    name=$([[ $violations == 0 ]] && echo valid || echo invalid)-$processes
    history=$out/$name.jsonl
    [[ -s $history ]] || "$generator" --ops "${OPS:-100000}" --processes "$processes" --seed 1 \
      --violations "$violations" > "$history" 2>/dev/null
    set +e
    /usr/bin/time -v "$bin" check "$history" --checker linearizable --model register "$@" \
      > "$out/$name.out" 2> "$out/$name.time"
    code=$?
    set -e
    verdict=$(head -1 "$out/$name.out" | sed 's/^linearizable: //')
    user=$(awk -F': ' '/User time/ {print $2}' "$out/$name.time")
    sys=$(awk -F': ' '/System time/ {print $2}' "$out/$name.time")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out/$name.time")
    rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$out/$name.time")
    steps=$(awk -F': ' '/search steps/ {print $2}' "$out/$name.out")
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
    echo "| $name | $verdict (exit $code) | ${cpu} s | $wall | $((rss / 1024)) MiB | ${steps:-0} |"
  done
done
