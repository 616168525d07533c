#!/bin/sh
# Headless Chromium and its WebDriver for the analysts' page test (tests/e2e/test_page.py):
# Debian's chromium and chromium-driver packages, installed once when either is missing.
set -eu
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "chromium.sh: chromium and chromedriver are missing; as root: apt-get install chromium chromium-driver" >&2
    exit 1
fi
echo "chromium.sh: installing Debian's chromium and chromium-driver" >&2
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    chromium chromium-driver fonts-dejavu-core >/dev/null
