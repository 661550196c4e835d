#!/usr/bin/env bash
# Single-record HTTP produce with `--flush always` and with `--flush never`, one after the other
# in one run, each on a fresh release broker; prints both rates and their ratio (the target is
# always/never >= 0.8). Needs wrk (Debian package `wrk`).
#   scripts/bench_flush_ratio.sh            64 connections, 15 s each
#   CONNECTIONS=128 DURATION_S=30 scripts/bench_flush_ratio.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
[ -n "${YAK:-}" ] || cargo build --release -p yak >&2
YAK="${YAK:-target/release/yak}"
CONNECTIONS="${CONNECTIONS:-64}"
DURATION_S="${DURATION_S:-15}"

rate() {
  local flush=$1 data out pid http
  data=$(mktemp -d)
  out=$(mktemp)
  "$YAK" broker --data-dir "$data" --http 127.0.0.1:0 --kafka 127.0.0.1:0 --flush "$flush" >"$out" 2>/dev/null &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
  http=$(sed -n 's/.*http=\([^ ]*\).*/\1/p' "$out")
  curl -sf -XPOST "$http/topics" -d '{"name":"single","partitions":3}' >/dev/null
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION_S}s" -s scripts/wrk_produce.lua "$http/produce" >"$out.wrk"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "== --flush $flush" >&2
  cat "$out.wrk" >&2
  awk '/Requests\/sec/ {print $2}' "$out.wrk"
  rm -rf "$data" "$out" "$out.wrk"
}

always=$(rate always)
never=$(rate never)
awk -v a="$always" -v n="$never" 'BEGIN { printf "{\"always_req_s\": %.0f, \"never_req_s\": %.0f, \"ratio\": %.2f}\n", a, n, a / n }'
