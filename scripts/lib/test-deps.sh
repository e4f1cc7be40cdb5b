# Installs what the tests need, once; sourced by scripts/test. Each step checks first, so a
# repeat run only confirms that everything is there.

log() { printf '== %s\n' "$*" >&2; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

install_test_deps() {
  # util-linux's `script` gives the interactive tests a terminal.
  if ! command -v script >/dev/null 2>&1; then
    log "installing util-linux (script)"
    apt_install util-linux
  fi
  # The report test opens the HTML in a real headless browser.
  if ! command -v chromium-headless-shell >/dev/null 2>&1 && ! command -v chromium >/dev/null 2>&1; then
    log "installing chromium-headless-shell"
    apt_install chromium-headless-shell
  fi
}
