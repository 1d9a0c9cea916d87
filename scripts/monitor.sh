#!/usr/bin/env bash
# modeshare on its simulator and Prometheus with the project's rules and alerts, locally, in one
# command. Within a minute Prometheus shows the recorded shares
# (zone_group_window:modeshare_mode_share:ratio) at http://127.0.0.1:9090/classic/graph and the
# alerts at http://127.0.0.1:9090/classic/alerts (Debian's Prometheus has the classic pages).
# Stop with Ctrl-C: it stops both. Grafana is not in Debian; deploy/grafana holds its datasource and dashboard.
#
#   MODESHARE_PORT (9464), PROMETHEUS_PORT (9090)   where they listen
#   MODESHARE_BIN                                   a modeshare binary (default: a release build)
#   MONITOR_DIR (target/monitor)                    Prometheus's data and configuration
set -euo pipefail
cd "$(dirname "$0")/.."

modeshare_port="${MODESHARE_PORT:-9464}"
prometheus_port="${PROMETHEUS_PORT:-9090}"
dir="${MONITOR_DIR:-target/monitor}"

scripts/tools.sh install prometheus
if [ -z "${MODESHARE_BIN:-}" ]; then
  cargo build --release -p modeshare
  MODESHARE_BIN=target/release/modeshare
fi

# The shipped prometheus.yml, pointed at this run's modeshare and the repository's rules.
rm -rf "$dir/data"
mkdir -p "$dir"
sed -e "s|127.0.0.1:9464|127.0.0.1:$modeshare_port|" \
  -e "s|- rules/\*.yml|- $PWD/deploy/prometheus/rules/*.yml|" \
  deploy/prometheus/prometheus.yml >"$dir/prometheus.yml"

pids=()
stop() {
  trap - EXIT INT TERM
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'stop; exit 0' INT TERM

MODESHARE__HTTP__LISTEN="127.0.0.1:$modeshare_port" "$MODESHARE_BIN" run &
pids+=($!)
prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
  --web.listen-address="127.0.0.1:$prometheus_port" 2>"$dir/prometheus.log" &
pids+=($!)

echo "monitor.sh: modeshare on http://127.0.0.1:$modeshare_port/api/zones," \
  "Prometheus on http://127.0.0.1:$prometheus_port/classic/alerts (log: $dir/prometheus.log);" \
  "Ctrl-C stops both" >&2
# Ends when either stops.
wait -n || true
echo "monitor.sh: a process ended; stopping" >&2
