#!/usr/bin/env bash
# Print the directory that holds both `prometheus` and `promtool`, installing them first
# when needed. Used by the tests (tests/unit/monitoring/test_alert_rules.py,
# tests/integration/test_prometheus.py) and by hand:  "$(scripts/ensure-prometheus.sh)/promtool" check rules ...
#
# Order of preference:
#   1. $PROMETHEUS_BIN_DIR, when it holds both binaries;
#   2. both binaries on PATH, in one directory;
#   3. .tools/prometheus/ of this repository, from an earlier run;
#   4. Debian's `prometheus` package: `apt-get download` (after `apt-get update` when the
#      package lists are missing or stale; that needs root), unpacked with `dpkg-deb -x`
#      into .tools/prometheus/. Nothing is installed system-wide and no service starts.
# Only the directory goes to stdout; progress goes to stderr. Safe to run concurrently.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${PROMETHEUS_TOOLS_DIR:-$root/.tools/prometheus}"

has_both() { [[ -x "$1/prometheus" && -x "$1/promtool" ]]; }
say() { echo "ensure-prometheus: $*" >&2; }

if [[ -n "${PROMETHEUS_BIN_DIR:-}" ]] && has_both "$PROMETHEUS_BIN_DIR"; then
    echo "$PROMETHEUS_BIN_DIR"
    exit 0
fi
if on_path="$(command -v prometheus 2>/dev/null)" && [[ -n "$on_path" ]]; then
    dir="$(dirname "$(readlink -f "$on_path")")"
    if has_both "$dir"; then
        echo "$dir"
        exit 0
    fi
fi
if has_both "$dest"; then
    echo "$dest"
    exit 0
fi

for tool in apt-get dpkg-deb; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        say "neither Prometheus on PATH nor $tool to fetch it: install Prometheus and promtool" \
            "(https://prometheus.io/download/) or set PROMETHEUS_BIN_DIR"
        exit 1
    fi
done

as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        say "need root (or passwordless sudo) for: $*"
        return 1
    fi
}

mkdir -p "$dest"
# One installer at a time (several test sessions may start at once).
exec 9>"$dest/.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi
if has_both "$dest"; then
    echo "$dest"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
say "downloading Debian's prometheus package"
if ! apt-get download prometheus >&2 2>/dev/null; then
    say "apt-get update (package lists missing or stale)"
    as_root apt-get update -qq >&2
    apt-get download prometheus >&2
fi
deb="$(ls prometheus_*.deb)"
dpkg-deb -x "$deb" unpacked
for tool in prometheus promtool; do
    install -m 0755 "unpacked/usr/bin/$tool" "$dest/$tool.new"
    mv -f "$dest/$tool.new" "$dest/$tool"
done
say "$("$dest/prometheus" --version 2>&1 | head -n 1) in $dest"
echo "$dest"
