#!/usr/bin/env bash
# Tools the tests and scripts/monitor.sh use, installed when missing; idempotent. Debian
# packages, and one Python venv from PyPI.
#
#   scripts/tools.sh install               those the tests use (prometheus, chromium, kubernetes)
#   scripts/tools.sh install prometheus    prometheus and promtool (the metrics-path tests, monitor.sh)
#   scripts/tools.sh install chromium      chromium and chromedriver (the live page's browser test)
#   scripts/tools.sh install wrk           wrk, the HTTP load generator of the http_load bench
#                                          (benches are run by hand, so CI does not install it)
#   scripts/tools.sh install kubernetes    yamllint and kubernetes-validate, pinned in
#                                          scripts/kubernetes-requirements.txt, in a venv at
#                                          ~/.cache/modeshare/tools/kubernetes (MODESHARE_TOOLS)
#                                          for scripts/check-kubernetes; reinstalled only when
#                                          the pins change (about 10 s)
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${MODESHARE_TOOLS:-$HOME/.cache/modeshare/tools}"

# tool group → the commands it provides and the Debian packages that provide them
commands_of() {
  case "$1" in
    prometheus) echo "prometheus promtool" ;;
    chromium) echo "chromium chromedriver" ;;
    wrk) echo "wrk" ;;
    kubernetes) echo "" ;;
    *) return 1 ;;
  esac
}
packages_of() {
  case "$1" in
    prometheus) echo "prometheus" ;;
    chromium) echo "chromium chromium-driver" ;;
    wrk) echo "wrk" ;;
  esac
}

# The kubernetes group: a venv from PyPI, not Debian packages (Debian has no kubernetes-validate).
# The copy of the requirements inside the venv says what it holds: the same file, nothing to do.
install_kubernetes() {
  local venv="$TOOLS/kubernetes" requirements=scripts/kubernetes-requirements.txt
  if [ -x "$venv/bin/yamllint" ] && [ -x "$venv/bin/kubernetes-validate" ] \
    && cmp -s "$requirements" "$venv/requirements.txt"; then
    return 0
  fi
  echo "tools.sh: installing $requirements into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
  cp "$requirements" "$venv/requirements.txt"
}

install() {
  local groups=("$@") missing=() group command
  if [ ${#groups[@]} -eq 0 ]; then
    groups=(prometheus chromium kubernetes)
  fi
  for group in "${groups[@]}"; do
    if ! commands_of "$group" >/dev/null; then
      echo "tools.sh: unknown tool group $group (prometheus, chromium, kubernetes, wrk)" >&2
      return 2
    fi
    if [ "$group" = kubernetes ]; then
      install_kubernetes
      continue
    fi
    for command in $(commands_of "$group"); do
      if ! command -v "$command" >/dev/null; then
        # shellcheck disable=SC2207
        missing+=($(packages_of "$group"))
        break
      fi
    done
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  echo "tools.sh: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  # Services the packages bring (prometheus.service) are not started: the tests start their
  # own servers on random ports.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  for group in "${groups[@]}"; do
    for command in $(commands_of "$group"); do
      command -v "$command" >/dev/null || { echo "tools.sh: $command still missing" >&2; return 1; }
    done
  done
}

case "${1:-}" in
  install)
    shift
    install "$@"
    ;;
  *)
    echo "usage: scripts/tools.sh install [prometheus|chromium|kubernetes|wrk]..." >&2
    exit 2
    ;;
esac
