#!/usr/bin/env bash
# A local Kafka-protocol broker for tests and the demo: tansu 0.6.0 with SQLite storage.
#
#   scripts/broker.sh install          build tansu once (about 11 min on 2 cores), reused after
#   scripts/broker.sh start [PORT]     start it on 127.0.0.1:PORT (default 19092); idempotent
#   scripts/broker.sh stop [PORT]      stop it
#   scripts/broker.sh topic NAME PARTITIONS [PORT]   create a topic (no auto-creation)
#
# Tools live outside the repository (MODESHARE_TOOLS, default ~/.cache/modeshare/tools) so fresh
# clones on the same machine reuse the build. State lives in MODESHARE_BROKER_DIR/PORT
# (default ~/.cache/modeshare/broker/PORT). tansu's default memory:// engine loses and
# duplicates messages: only the sqlite engine is used here.
set -euo pipefail

TOOLS="${MODESHARE_TOOLS:-$HOME/.cache/modeshare/tools}"
TANSU="$TOOLS/tansu/bin/tansu"
VERSION=0.6.0

install() {
  if [ -x "$TANSU" ] && "$TANSU" --version 2>/dev/null | grep -q "$VERSION"; then
    return 0
  fi
  for tool in make cc; do
    if ! command -v "$tool" >/dev/null; then
      echo "broker.sh: installing build tools" >&2
      apt-get update -qq && apt-get install -y -qq build-essential >/dev/null
      break
    fi
  done
  echo "broker.sh: building tansu $VERSION (about 11 minutes on 2 cores)" >&2
  cargo install tansu --version "$VERSION" --locked --features libsql --root "$TOOLS/tansu" >&2
}

dir_for() { echo "${MODESHARE_BROKER_DIR:-$HOME/.cache/modeshare/broker}/$1"; }

ready() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local port="${1:-19092}" dir
  dir=$(dir_for "$port")
  install
  if ready "$port"; then
    return 0
  fi
  mkdir -p "$dir"
  # From a directory without a .env file, with a relative sqlite path; detached from this
  # shell so that callers waiting on the script are not held by the broker.
  (
    cd "$dir"
    exec setsid "$TANSU" broker \
      --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "sqlite://tansu.db" </dev/null >broker.log 2>&1
  ) &
  echo $! >"$dir/broker.pid"
  for _ in $(seq 1 100); do
    if ready "$port"; then
      echo "broker.sh: tansu listening on 127.0.0.1:$port (state in $dir)" >&2
      return 0
    fi
    sleep 0.1
  done
  echo "broker.sh: tansu did not start; see $dir/broker.log" >&2
  tail -20 "$dir/broker.log" >&2 || true
  return 1
}

stop() {
  local port="${1:-19092}" dir
  dir=$(dir_for "$port")
  if [ -f "$dir/broker.pid" ]; then
    local pid
    pid=$(cat "$dir/broker.pid")
    kill "$pid" 2>/dev/null || true
    # Wait until it is gone: a new broker on the same storage must not overlap the old one.
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/broker.pid"
  fi
}

topic() {
  local name="$1" partitions="$2" port="${3:-19092}"
  "$TANSU" topic create --broker "tcp://127.0.0.1:$port" --partitions "$partitions" "$name"
}

case "${1:-}" in
  install) install ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  topic) topic "$2" "$3" "${4:-}" ;;
  *) echo "usage: scripts/broker.sh install | start [PORT] | stop [PORT] | topic NAME PARTITIONS [PORT]" >&2; exit 2 ;;
esac
