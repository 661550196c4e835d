#!/usr/bin/env bash
# Runs the benchmarks BENCHMARKS.md reports: a release broker with --flush always on a fresh data
# directory, and `yak bench` on the same machine. Prints one JSON summary per run.
#   scripts/bench.sh            all runs (about 2 minutes)
#   SOAK_S=300 scripts/bench.sh also a 5-minute single-record produce run sampling the broker's RSS
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo build --release -p yak >&2
YAK=target/release/yak
data=$(mktemp -d)
out=$(mktemp)
"$YAK" broker --data-dir "$data" --http 127.0.0.1:0 --kafka 127.0.0.1:0 --flush always >"$out" 2>"$data.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$data.log" "$out"' EXIT
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
http=$(sed -n 's/.*http=\([^ ]*\).*/\1/p' "$out")
kafka=$(sed -n 's/.*kafka=\([^ ]*\).*/\1/p' "$out")
echo "broker pid $pid http $http kafka $kafka" >&2

run() { echo "== $*" >&2; "$YAK" bench "$@" --broker "$http" --broker-pid "$pid" --quiet; }

run produce --topic single --mode single --concurrency 64 --duration-s 20
run produce --topic batch --mode ndjson --batch-records 10000 --concurrency 4 --count 5000000
run consume --topic batch --concurrency 6
if "$YAK" bench produce --help | grep -q -- --protocol; then
  run produce --protocol kafka --kafka "$kafka" --topic kafka --count 10000000 --concurrency 2 --acks 1
  run consume --protocol kafka --kafka "$kafka" --topic kafka --concurrency 3
fi
if [ -n "${SOAK_S:-}" ]; then
  run produce --topic soak --mode single --concurrency 64 --duration-s "$SOAK_S"
fi
