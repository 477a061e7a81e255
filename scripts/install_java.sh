#!/usr/bin/env bash
# Installs Debian's headless Java 17, which local Spark (pyspark 4) needs for `soe run --engine
# spark` and its tests (tests/test_spark_engine.py, tests/test_engine_neutral_sql.py).
# Idempotent: does nothing when a Java 17 or newer is on PATH.
set -euo pipefail

java_major() {
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1
}

if command -v java >/dev/null 2>&1 && [ "$(java_major)" -ge 17 ] 2>/dev/null; then
    exit 0
fi

bash "$(dirname "$0")/apt_install.sh" openjdk-17-jre-headless "local Spark needs Java 17"

if ! command -v java >/dev/null 2>&1; then
    echo "install_java.sh: apt-get finished but java is still not on PATH" >&2
    exit 1
fi
