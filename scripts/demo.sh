#!/usr/bin/env bash
# The Kafka path locally in one command: starts the project's broker (building it once), fills
# a topic with a simulated Bærum day through `modeshare produce`, and runs the service on it.
# Then open http://127.0.0.1:9464/api/zones. Stop with Ctrl-C; `scripts/broker.sh stop` stops
# the broker.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${PORT:-19092}"
topic="mobility.events"
scripts/broker.sh start "$port"
scripts/broker.sh topic "$topic" 4 "$port" 2>/dev/null || true # already there on a second run
cargo build --release -p modeshare
mkdir -p target/demo
# About one simulated day (it starts 24 h ago; later events would be in the future).
target/release/modeshare generate --events 14000 >target/demo/events.ndjson
# The simulated day holds a few broken events on purpose: send the valid rest.
target/release/modeshare produce --brokers "127.0.0.1:$port" --topic "$topic" --allow-rejects \
  target/demo/events.ndjson || true
cat >target/demo/kafka.toml <<TOML
[kafka]
brokers = "127.0.0.1:$port"
group_id = "modeshare-demo-$(date +%s)"
dead_letter_topic = "modeshare.dead-letter"
[[kafka.topics]]
name = "$topic"
format = "canonical"
TOML
exec target/release/modeshare run --config target/demo/kafka.toml
