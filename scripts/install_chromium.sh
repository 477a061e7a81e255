#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium, which the S&OE brief test uses to load the
# rendered HTML and take a screenshot. Idempotent: does nothing when Chromium is present.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

bash "$(dirname "$0")/apt_install.sh" chromium "the brief's screenshot test"

if [ ! -x "$CHROMIUM" ]; then
    echo "install_chromium.sh: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "Chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
