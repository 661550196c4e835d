#!/usr/bin/env bash
# Runs every YAK test on a fresh machine: installs what the suites need (Debian packages, a
# Python virtual environment from PyPI), builds the workspace, runs the Rust tests, then the
# end-to-end suites against real processes (real Kafka clients, a real Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# --- System packages (Debian) ---------------------------------------------------------------
missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# tests/cluster: Redis is the cluster's coordinator; iproute2 and iptables build and cut the
# network namespaces of the partition tests.
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# tests/groups: the Java client and Kafka's admin tool come from Maven Central, built with Maven.
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
# crates/yak/tests/security_cli.rs makes its test certificates with openssl.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Python clients and Playwright (PyPI) ---------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
for requirements in tests/*/requirements.txt; do
  .venv/bin/pip install -q --disable-pip-version-check -r "$requirements"
done

# --- Java (Maven Central, repository in ~/.m2) ---------------------------------------------
echo "== mvn package (tests/groups/java)"
# tests/groups and tests/security read the class path from target/classpath.txt (rewritten only
# when absent).
(cd tests/groups/java && rm -f target/classpath.txt &&
  mvn -q -B package dependency:build-classpath -Dmdep.outputFile=target/classpath.txt)

# --- Rust -----------------------------------------------------------------------------------
echo "== cargo build"
cargo build --workspace --bins
echo "== cargo test"
cargo test --workspace

# --- End-to-end suites against the real binary ----------------------------------------------
# Each suite runs in its own pytest process: Playwright's sync API keeps an event loop running in
# the process, which would stop the asyncio-based Kafka clients (aiokafka) from starting theirs.
export YAK_BIN="$PWD/target/debug/yak"
mkdir -p target/screenshots
failed=0
for suite in tests/kafka tests/groups tests/security tests/api tests/browser tests/cluster; do
  echo "== $suite"
  .venv/bin/python -m pytest "$suite" -q -p no:cacheprovider || failed=1
done
exit "$failed"
