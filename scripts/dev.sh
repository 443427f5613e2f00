#!/usr/bin/env bash
# Implementation of ./dev: see the header there.
set -euo pipefail
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

# Debian packages the tool, the lab and the tests run for real (see docs/rtmplab.md).
APT_PACKAGES=(
  python3 python3-venv python3-pip
  adb tcpdump tshark ffmpeg nginx libnginx-mod-rtmp rtmpdump
  qemu-user-static iproute2 ethtool procps psmisc
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  nodejs tmux binutils util-linux
  flvmeta chromium
)
# What `./dev demo` needs: a virtual device (util-linux namespaces, iproute2 veth), the real adb
# server, nginx-rtmp and an ffmpeg publisher.
APT_DEMO=(python3 python3-venv python3-pip adb nginx libnginx-mod-rtmp ffmpeg iproute2 util-linux procps)

say() { printf '[dev] %s\n' "$*" >&2; }

need_apt() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # tshark asks whether non-root users may capture; answer no, non-interactively.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections 2>/dev/null || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_for_venv() {
  # Prefer the interpreter on PATH if it is new enough, else Debian's.
  for c in python3 /usr/bin/python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$c"; return
    fi
  done
  say "Python 3.11 or newer is needed"; exit 1
}

need_venv() {
  local stamp="$VENV/.droidcap-installed"
  if [ ! -x "$PY" ]; then
    say "creating $VENV"
    "$(python_for_venv)" -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing droidcap and its test dependencies into .venv"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q -e ".[test]"
    touch "$stamp"
  fi
  # An editable install compiles nothing, and without .pyc files every start recompiles droidcap
  # (about 0.1 s); compileall only redoes what changed.
  "$PY" -m compileall -q droidcap >/dev/null
}

need_npm() {
  # node-media-server: a second real RTMP server for the lab (chunk size 60000+).
  local dir="$ROOT/.lab/npm"
  # NodeSource's nodejs ships npm and conflicts with Debian's npm package: only add it if missing.
  command -v npm >/dev/null || need_apt npm
  if [ ! -d "$dir/node_modules/node-media-server" ]; then
    say "installing node-media-server into $dir"
    mkdir -p "$dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" node-media-server@2.7.4 >/dev/null
  fi
}

setup_all() { need_apt "${APT_PACKAGES[@]}"; need_venv; need_npm; }

# The static checks, over the whole package (configured in pyproject.toml): ruff's rule set, and
# mypy, strict on the sans-IO layers. Zero findings, or the tests do not start.
run_checks() {
  say "ruff check droidcap bench"
  "$VENV/bin/ruff" check --no-cache droidcap bench
  say "mypy (files and strictness: [tool.mypy] in pyproject.toml)"
  "$VENV/bin/mypy"
}

run_pytest() {
  set +e
  "$PY" -m pytest "$@"
  local rc=$?
  set -e
  # pytest's 5 means no test ran: that is a failure for us, never a pass.
  return $rc
}

cmd=${1:-help}; shift || true
case "$cmd" in
  setup) setup_all ;;
  demo) need_apt "${APT_DEMO[@]}"; need_venv; exec "$VENV/bin/droidcap" demo "$@" ;;
  test) setup_all; run_checks; run_pytest -m "not qemu_system" "$@" ;;
  test-fast) setup_all; run_checks; run_pytest -m "not slow and not rtmplab and not qemu_system" "$@" ;;
  check) need_venv; run_checks ;;
  test-qemu) setup_all; need_apt qemu-system-arm; run_pytest -m qemu_system "$@" ;;
  check-tcpdump) exec bash tcpdump_bins/build.sh --check "$@" ;;
  build-tcpdump) exec bash tcpdump_bins/build.sh "$@" ;;
  bench)  # each prints its ratios against the peer it measures in the same run
    setup_all
    "$PY" bench/decode.py "$@"
    "$PY" bench/summary.py
    "$PY" bench/tui.py
    if [ "$(id -u)" -eq 0 ]; then "$PY" bench/record.py; else say "bench/record.py needs root (skipped)"; fi ;;
  *) sed -n '2,/^[^#]/{/^#/p}' "$ROOT/dev" | sed 's/^# \{0,1\}//'; [ "$cmd" = help ] ;;
esac
