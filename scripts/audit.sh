#!/usr/bin/env bash
# Known vulnerabilities in the locked packages: pip-audit over a hashed lock file (default
# requirements-dev.lock, which holds every package the worker, its tests and tools install).
#
# pip-audit asks a vulnerability service over the network: OSV (api.osv.dev) or PyPI's JSON
# API (pypi.org/pypi/<name>/<version>/json). This script first checks which one answers and
# audits with it; a known vulnerability fails the run. When neither answers it says so
# plainly, on stdout and stderr, and exits 0 (the audit did not run, nothing was found) unless
# AUDIT_REQUIRED=1, where it fails: set that wherever a service must be reachable.
set -euo pipefail
cd "$(dirname "$0")/.."
lock="${1:-requirements-dev.lock}"

answers() {
    # $1: osv or pypi. True when the service answers a query about a package version.
    python - "$1" <<'PY'
import json
import sys
import urllib.request

service = sys.argv[1]
if service == "osv":
    body = json.dumps({"package": {"name": "pip", "ecosystem": "PyPI"}, "version": "25.3"})
    request = urllib.request.Request(
        "https://api.osv.dev/v1/query",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
else:
    request = urllib.request.Request("https://pypi.org/pypi/pip/25.3/json")
try:
    with urllib.request.urlopen(request, timeout=15) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:
    print(f"audit: {service} does not answer: {exc}", file=sys.stderr)
    sys.exit(1)
PY
}

for service in osv pypi; do
    if answers "$service"; then
        echo "audit: $lock against the $service vulnerability service"
        exec pip-audit --strict --disable-pip --require-hashes --progress-spinner off \
            --vulnerability-service "$service" -r "$lock"
    fi
done

message="VULNERABILITY AUDIT NOT RUN: neither OSV (api.osv.dev) nor PyPI's JSON API \
(pypi.org/pypi/<name>/<version>/json) answers from this machine, so $lock was not checked \
for known vulnerabilities"
echo "$message"
echo "$message" >&2
if [[ "${AUDIT_REQUIRED:-0}" == "1" ]]; then
    exit 1
fi
