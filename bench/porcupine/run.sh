#!/usr/bin/env bash
# Side-by-side with Porcupine (issue 17): builds main.go against a Porcupine checkout and
# times it, under /usr/bin/time -v, on the histories checker/benches/register-scale.sh
# generated, printing one Markdown row per history as in docs/checkers.md.
#
#   apt-get install golang-go                       # Go >= 1.16; Debian 12 has 1.19
#   git clone https://github.com/anishathalye/porcupine /tmp/porcupine
#   bash checker/benches/register-scale.sh /tmp/faultline-register-scale
#   PORCUPINE_DIR=/tmp/porcupine bash bench/porcupine/run.sh /tmp/faultline-register-scale [TIMEOUT]
#
# Porcupine's memory is capped at PORCUPINE_MEMORY_GIB (default 8) of address space: on the
# 100,000-op histories it otherwise grows past 20 GiB and is killed by the kernel.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-/tmp/faultline-register-scale}
timeout=${2:-120s}
porcupine=${PORCUPINE_DIR:?set PORCUPINE_DIR to a Porcupine checkout}
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cp "$here/main.go" "$build/"
(
  cd "$build"
  go mod init faultline/porcupine-check >/dev/null 2>&1
  go mod edit -require=github.com/anishathalye/porcupine@v1.0.0 \
    -replace=github.com/anishathalye/porcupine="$porcupine"
  GOFLAGS=-mod=mod GOPROXY=off go build -o porcupine-check .
)
for name in valid-10 invalid-10 valid-20 invalid-20 valid-50 invalid-50; do
  history=$dir/$name.jsonl
  set +e
  ( ulimit -v $(( ${PORCUPINE_MEMORY_GIB:-8} * 1024 * 1024 )); exec /usr/bin/time -v "$build/porcupine-check" "$history" "$timeout" ) \
    > "$dir/$name.porcupine.out" 2> "$dir/$name.porcupine.time"
  code=$?
  set -e
  verdict=$(head -1 "$dir/$name.porcupine.out" | sed 's/^porcupine: //')
  user=$(awk -F': ' '/User time/ {print $2}' "$dir/$name.porcupine.time")
  sys=$(awk -F': ' '/System time/ {print $2}' "$dir/$name.porcupine.time")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$dir/$name.porcupine.time")
  rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$dir/$name.porcupine.time")
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
  echo "| $name | $verdict (exit $code) | ${cpu} s | $wall | $((rss / 1024)) MiB |"
done
