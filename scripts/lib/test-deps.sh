# Installs what the tests need, once; sourced by scripts/test. Each step checks first, so a
# repeat run only confirms that everything is there. Installs go under $ADVISOR_CACHE.

log() { printf '== %s\n' "$*" >&2; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Python tools the tests run, pinned; a new pin list rebuilds the virtualenv.
PYTHON_PACKAGES=(
  "checkov==3.3.30"
  "moto[server]==5.1.22"
  "ksql-python-ng==0.29.0.1"
  "httpx[http2]==0.27.2"
)

# Makes $1 a virtualenv holding exactly the packages that follow, unless it already does.
install_venv() {
  local venv="$1"
  shift
  local stamp="$venv/.advisor-packages"
  local wanted="$*"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
    return
  fi
  log "installing $wanted into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$wanted" >"$stamp"
}

install_python_tools() {
  install_venv "$ADVISOR_CACHE/venv" "${PYTHON_PACKAGES[@]}"
}

# tansu, a Kafka-compatible broker, for the engine's Kafka tests. `dynostore` brings its
# storage engines (the tests use memory://); the build takes about 10 minutes once.
TANSU_VERSION="0.6.0"

# Installs crate $1 at version $2 from crates.io into $ADVISOR_CACHE/$1 (more cargo install
# flags may follow), unless that version is there; $3 says how long it takes.
install_crate() {
  local crate="$1" version="$2" takes="$3"
  shift 3
  local root="$ADVISOR_CACHE/$crate"
  if [ -x "$root/bin/$crate" ] && [ "$(cat "$root/.version" 2>/dev/null)" = "$version" ]; then
    return
  fi
  log "installing $crate $version into $root ($takes, once)"
  # Its own target folder, so the project's build cache is not mixed with it.
  CARGO_TARGET_DIR="$ADVISOR_CACHE/$crate-build" cargo install "$crate" --version "$version" \
    --locked --root "$root" --quiet "$@"
  echo "$version" >"$root/.version"
  rm -rf "$ADVISOR_CACHE/$crate-build"
}

install_tansu() {
  install_crate tansu "$TANSU_VERSION" "about 10 minutes" --features dynostore
}

# Apache Flink from PyPI, in its own virtualenv (its pins clash with checkov's), for the
# `submit flink` tests and for building the SQL runner jar. FLINK_HOME is the pyflink folder.
FLINK_PACKAGE="apache-flink==2.3.0"

install_flink() {
  # About 350 MB, once.
  install_venv "$ADVISOR_CACHE/flink-venv" "$FLINK_PACKAGE"
}

# The Python Avro serializer and Schema Registry client the engine's AVRO tests write and
# read records with, in a virtualenv of their own: its dependencies (httpx, attrs,
# cachetools) are pinned apart from checkov's, and a new pin here does not rebuild the
# venv the other tests are using.
AVRO_PACKAGES=(
  "confluent-kafka[avro,schemaregistry]==2.16.1"
  "fastavro==1.13.1"
)

install_avro_python() {
  install_venv "$ADVISOR_CACHE/avro-venv" "${AVRO_PACKAGES[@]}"
}

# rivven-schema, a Confluent-compatible Schema Registry with an in-memory store, for the
# engine's AVRO tests (about 4 minutes once). It binds 0.0.0.0 unless given --host.
RIVVEN_SCHEMA_VERSION="0.0.22"

install_rivven_schema() {
  install_crate rivven-schema "$RIVVEN_SCHEMA_VERSION" "about 4 minutes"
}

flink_home() {
  local found
  found="$(find "$ADVISOR_CACHE/flink-venv/lib" -maxdepth 3 -type d -name pyflink | head -n 1)"
  [ -n "$found" ] || { echo "pyflink is not in $ADVISOR_CACHE/flink-venv" >&2; return 1; }
  echo "$found"
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
  # The generate tests check formatting with the machine's terraform.
  if ! command -v terraform >/dev/null 2>&1; then
    echo "terraform is not on this machine; the generate tests need it (terraform fmt)" >&2
    return 1
  fi
  # The image tests push to and pull from a real registry: Debian's docker-registry (the
  # CNCF distribution registry), started by the tests on a loopback port.
  if ! command -v docker-registry >/dev/null 2>&1; then
    log "installing docker-registry"
    apt_install docker-registry
  fi
  # The registry auth tests make a CA and a server certificate at test time with openssl.
  if ! command -v openssl >/dev/null 2>&1; then
    log "installing openssl"
    apt_install openssl
  fi
  install_python_tools
  install_flink
  install_tansu
  install_rivven_schema
  install_avro_python
  FLINK_HOME="$(flink_home)"
  export FLINK_HOME
  export PATH="$ADVISOR_CACHE/venv/bin:$ADVISOR_CACHE/tansu/bin:$ADVISOR_CACHE/rivven-schema/bin:$PATH"
}
