#!/usr/bin/env bash
# apt_install.sh PACKAGE PURPOSE: installs one of Debian's packages as root, or through sudo;
# explains what to run when neither is possible. Called by install_chromium.sh and
# install_java.sh once they found what they install missing.
set -euo pipefail
package=$1
purpose=$2

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "$package is missing ($purpose) and installing it needs root;" >&2
    echo "run as root: apt-get update && apt-get install -y --no-install-recommends $package" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get not found: install $package ($purpose) by other means" >&2
    exit 1
fi

echo "Installing Debian's $package ($purpose)..."
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "$package" >/dev/null
