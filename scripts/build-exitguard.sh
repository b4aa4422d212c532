#!/usr/bin/env bash
# Compile the Spark server's exit guard (src/askspark/engines/java/ExitGuard.java) into exitguard.jar
# next to it, with the JDK's javac and jar (Debian: openjdk-17-jdk-headless). Run by scripts/setup.sh:
# askspark never compiles at run time; without the jar the server starts unguarded (with a warning).
set -euo pipefail
cd "$(dirname "$0")/../src/askspark/engines/java"
classes=$(mktemp -d)
trap 'rm -rf "$classes"' EXIT
javac --release 17 -d "$classes" ExitGuard.java
jar cf exitguard.jar.tmp -C "$classes" .
mv exitguard.jar.tmp exitguard.jar
