#!/usr/bin/env bash
# Prometheus and promtool for the tests and scripts/monitor.sh: Debian's `prometheus` package.
#
#   scripts/prometheus.sh install      install it unless prometheus and promtool are on PATH; idempotent
set -euo pipefail

install() {
  if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  echo "prometheus.sh: installing Debian's prometheus" >&2
  $sudo apt-get update -qq
  # The package's service is not started here (no systemd in containers, and the tests start
  # their own servers on random ports).
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  command -v prometheus >/dev/null && command -v promtool >/dev/null
}

case "${1:-}" in
  install) install ;;
  *)
    echo "usage: scripts/prometheus.sh install" >&2
    exit 2
    ;;
esac
