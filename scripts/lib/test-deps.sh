# Installs what the tests need into $ADVISOR_CACHE, once; sourced by scripts/test.
# Each install is idempotent and cached, so repeat runs only check that it is there.

log() { printf '== %s\n' "$*" >&2; }

install_test_deps() {
  # util-linux's `script` gives the interactive tests a terminal.
  if ! command -v script >/dev/null 2>&1; then
    log "installing util-linux (script)"
    apt-get update -qq && apt-get install -y -qq util-linux >/dev/null
  fi
}
