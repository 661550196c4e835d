#!/usr/bin/env bash
# Measures broker restart time against the size of its logs (BENCHMARKS.md, "Restart").
#   scripts/bench_restart.sh RECORDS [YAK_BINARY ...]
# Fills a fresh data directory with RECORDS 100-byte records over the Kafka protocol (3
# partitions, --flush never to fill fast; the bytes on disk are the same under any policy), stops
# the broker cleanly, then for each binary times: a clean restart, and an unclean one (the broker
# is started, killed with SIGKILL, and started again). Each start is timed from exec to the
# broker's "listening" line, with the page cache dropped first (cold) and not (warm); `rchar` is
# what the process read through read syscalls until then (/proc/PID/io). Prints one line per run.
# The data directory is deleted at the end, unless it was given as YAK_RESTART_DATA (then it is
# filled only if empty, and kept, so several binaries can be measured on the same logs; with
# YAK_RESTART_FILL_ONLY=1 the script stops after filling). Dropping the page cache needs root; without it the cold runs are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:?usage: scripts/bench_restart.sh RECORDS [YAK_BINARY ...]}
shift
binaries=("$@")
[ ${#binaries[@]} -gt 0 ] || binaries=(target/release/yak)
keep=${YAK_RESTART_DATA:+yes}
data=${YAK_RESTART_DATA:-$(mktemp -d "${TMPDIR:-/tmp}/yak-restart.XXXXXX")}
mkdir -p "$data"
out=$(mktemp)
pid=
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -f "$out"
  [ -n "$keep" ] || rm -rf "$data" "$data.log"
}
trap cleanup EXIT

# Starts the broker on $data and waits until it is listening; sets $pid, $start_ms (from exec to
# "listening") and $start_rchar.
start() {
  local binary=$1
  : >"$out"
  local begin
  begin=$(date +%s%N)
  "$binary" broker --data-dir "$data" --http 127.0.0.1:0 --kafka 127.0.0.1:0 --flush never \
    >"$out" 2>>"$data.log" &
  pid=$!
  while ! grep -q listening "$out"; do
    kill -0 "$pid" 2>/dev/null || { echo "broker exited; see $data.log" >&2; exit 1; }
    sleep 0.005
  done
  local end
  end=$(date +%s%N)
  start_rchar=$(awk '/^rchar/ {print $2}' "/proc/$pid/io")
  start_ms=$(( (end - begin) / 1000000 ))
}

stop_clean() {
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
}

stop_crash() {
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

drop_cache() {
  sync
  echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
}

if [ -z "$(ls -A "$data")" ]; then
  start "${binaries[0]}"
  kafka=$(sed -n 's/.*kafka=\([^ ]*\).*/\1/p' "$out")
  "${binaries[0]}" bench produce --protocol kafka --kafka "$kafka" --topic restart \
    --count "$records" --concurrency 2 --acks 1 --record-bytes 100 --quiet >&2
  stop_clean
fi
echo "data: $(du -sb "$data" | cut -f1) bytes in $(find "$data" -name '*.log' | wc -l) segments" >&2
[ -z "${YAK_RESTART_FILL_ONLY:-}" ] || exit 0

for binary in "${binaries[@]}"; do
  for cache in cold warm; do
    if [ "$cache" = cold ] && ! drop_cache; then
      continue
    fi
    # Clean: the previous stop was clean.
    start "$binary"
    echo "$binary clean $cache: ${start_ms} ms, rchar ${start_rchar}"
    # Unclean: the broker that just started is killed; the next start finds no marker.
    stop_crash
    [ "$cache" = cold ] && drop_cache
    start "$binary"
    echo "$binary unclean $cache: ${start_ms} ms, rchar ${start_rchar}"
    stop_clean
  done
done
