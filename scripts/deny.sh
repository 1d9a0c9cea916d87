#!/usr/bin/env bash
# The supply-chain check: `cargo deny check licenses bans sources` against deny.toml (which
# says why each exception exists). cargo-deny is built once into ~/.cache/modeshare/tools
# (MODESHARE_TOOLS) with `cargo install --locked` (its own lock file, so the same build every
# time; a few minutes on 2 cores the first time), then reused.
#
#   scripts/deny.sh install    build cargo-deny unless the pinned version is there
#   scripts/deny.sh check      install if needed, then check (what .ci/run runs)
#   scripts/deny.sh warnings   the same with the warnings (duplicate versions of a crate)
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${MODESHARE_TOOLS:-$HOME/.cache/modeshare/tools}"
VERSION=0.20.2
DENY="$TOOLS/cargo-deny/bin/cargo-deny"

install() {
  if [ -x "$DENY" ] && "$DENY" --version 2>/dev/null | grep -q "$VERSION"; then
    return 0
  fi
  echo "deny.sh: building cargo-deny $VERSION into $TOOLS/cargo-deny (a few minutes, once)" >&2
  local started=$SECONDS
  cargo install cargo-deny --version "$VERSION" --locked --root "$TOOLS/cargo-deny" >&2
  echo "deny.sh: cargo-deny built in $((SECONDS - started)) s" >&2
}

case "${1:-}" in
  install)
    install
    ;;
  check)
    install
    # Advisories need a database fetched from the network at every run; licenses, bans and
    # sources need only the lock file and the crates' manifests. Errors only: the duplicate
    # versions deny.toml allows are listed by `scripts/deny.sh warnings`.
    "$DENY" --locked --log-level error check --hide-inclusion-graph licenses bans sources
    ;;
  warnings)
    install
    "$DENY" --locked check --hide-inclusion-graph licenses bans sources
    ;;
  *)
    echo "usage: scripts/deny.sh install|check|warnings" >&2
    exit 2
    ;;
esac
