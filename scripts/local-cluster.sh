#!/usr/bin/env bash
# A three-node YAK cluster on this machine, to try a failover: builds the release binary, then runs
# `yak cluster up`, which starts redis-server (it must be installed) and the nodes, prints each
# console's URL and the commands to try, and stops everything on Ctrl-C.
#   scripts/local-cluster.sh                       3 nodes, data in ./yak-cluster
#   scripts/local-cluster.sh --nodes 5 --lease-ms 1500
# Every argument goes to `yak cluster up` (see `yak cluster up --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null; then
  echo "redis-server is not installed: sudo apt-get install redis-server (Debian/Ubuntu)," \
       "sudo dnf install redis (Fedora) or brew install redis (macOS)" >&2
  exit 1
fi
exec cargo run --release -p yak -- cluster up "$@"
