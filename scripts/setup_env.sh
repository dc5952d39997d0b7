#!/usr/bin/env bash
# One-command set-up of the project environment in .venv (idempotent, stamp-based).
#
#   1. Debian's libusb-1.0-0 (open3d needs it) and chromium (the headless browser that checks the HTML
#      report, scripts/check_report.py): installed with apt-get when missing and we are root.
#   2. .venv with pinned packages (requirements*.txt + constraints.txt); reinstalled only when they change.
#   3. sensor_fusion_msgs built with plain cmake against the venv (a ROS prefix) and installed into it;
#      tf2_msgs (tf2_msgs/, messages only) and radar_msgs the same way unless this Python already
#      imports them.
#   4. sensor_fusion installed editable into the venv (console scripts sensor-fusion, fusion_node).
#
# A second run with nothing changed takes about a second. Set PYTHON to choose the interpreter (3.10+).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
log() { printf '[setup] %s\n' "$*" >&2; }

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_ok() { [ -f "$VENV/.stamp-$1" ] && [ "$(cat "$VENV/.stamp-$1")" = "$2" ]; }
stamp_set() { echo "$2" > "$VENV/.stamp-$1"; }

# 1. Debian packages: libusb (open3d's native library links against it; required) and chromium
#    (scripts/check_report.py opens the HTML report in it; without it that one test skips)
# Each package is installed on its own: a failure of the optional chromium (its many dependencies)
# must not take the required libusb down with it, as one apt-get call for both did.
# has_libusb reads the whole cache before matching: under pipefail, `ldconfig -p | grep -q` fails
# whenever grep exits at its first match and ldconfig dies of SIGPIPE (a fresh clone hit it)
has_libusb() { [[ "$(ldconfig -p 2>/dev/null || true)" == *libusb-1.0.so.0* ]]; }
apt_missing=()
has_libusb || apt_missing+=(libusb-1.0-0)
command -v chromium >/dev/null 2>&1 || apt_missing+=(chromium)
can_apt=no
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && can_apt=yes
if [ "${#apt_missing[@]}" -gt 0 ] && [ "$can_apt" = yes ]; then
  log "installing Debian packages ${apt_missing[*]}$([[ " ${apt_missing[*]} " == *" chromium "* ]] && echo ' (chromium: about 40 s)')"
  apt-get update -qq >/dev/null || log "WARNING: apt-get update failed"
  for pkg in "${apt_missing[@]}"; do
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null \
      || log "WARNING: apt-get install $pkg failed (its output is above)"
  done
fi
if ! has_libusb; then
  if [ "$can_apt" = yes ]; then
    log "ERROR: libusb-1.0.so.0 is missing and apt-get could not install libusb-1.0-0 (see above)."
  else
    log "ERROR: libusb-1.0.so.0 is missing and this shell cannot apt-get it (not root, or no apt-get)."
  fi
  log "       Install it first: sudo apt-get install libusb-1.0-0"
  exit 1
fi
command -v chromium >/dev/null 2>&1 \
  || log "note: no chromium (sudo apt-get install chromium): the HTML report's browser check will skip"

for tool in cmake make g++; do
  command -v "$tool" >/dev/null 2>&1 || { log "ERROR: '$tool' is needed to build sensor_fusion_msgs:" \
    "apt-get install cmake make g++"; exit 1; }
done

# 2. virtual environment with pinned packages
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $("$PYTHON" --version)"
  "$PYTHON" -m venv "$VENV"
fi
DEPS_HASH="$(hash_of "$ROOT/requirements.txt" "$ROOT/requirements-nodeps.txt" "$ROOT/constraints.txt")"
if ! stamp_ok deps "$DEPS_HASH"; then
  log "installing pinned packages (first run: about 3 minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r "$ROOT/requirements.txt" -c "$ROOT/constraints.txt"
  "$VENV/bin/python" -m pip install -q --no-deps -r "$ROOT/requirements-nodeps.txt"
  stamp_set deps "$DEPS_HASH"
fi

# 3. interface packages, built against the venv prefix and installed into it: our own messages, and
#    radar_msgs (ros-perception's RadarScan; no PyPI wheel) unless another prefix already provides it
#    (checked by importing a class: the source folders at the repository root import as empty
#    namespace packages from here)
build_msgs() {  # package directory, stamp name, expected time
  local name="$1" src="$ROOT/$1" key="$2"
  local hash
  hash="$(cd "$src" && find . -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1)-$DEPS_HASH"
  stamp_ok "$key" "$hash" && return 0
  log "building $name with cmake ($3)"
  local build="$ROOT/build/$name"
  rm -rf "$build"
  mkdir -p "$build"
  (
    cd "$build"
    cmake "$src" -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
      -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF >cmake.log 2>&1 \
      || { tail -40 cmake.log >&2; exit 1; }
    make -j"$(nproc)" >make.log 2>&1 || { tail -40 make.log >&2; exit 1; }
    make install >install.log 2>&1 || { tail -40 install.log >&2; exit 1; }
  )
  stamp_set "$key" "$hash"
}
build_msgs sensor_fusion_msgs msgs "about 40 s"
if [ -f "$VENV/.stamp-radar_msgs" ] || ! "$VENV/bin/python" -c "from radar_msgs.msg import RadarScan" >/dev/null 2>&1; then
  build_msgs radar_msgs radar_msgs "about 20 s of CPU; 57 s wall on a loaded 2-core machine"
fi

# 3b. tf2_msgs (TFMessage for /tf and /tf_static) has no PyPI wheel: build its messages the same way
#     when this Python cannot import them (a ROS install that provides tf2_msgs skips this)
if [ -f "$VENV/.stamp-tf2" ] || ! "$VENV/bin/python" -c 'from tf2_msgs.msg import TFMessage' 2>/dev/null; then
  build_msgs tf2_msgs tf2 "about 35 s"
fi

# 4. the Python package itself, editable
PKG_HASH="$(hash_of "$ROOT/setup.py" "$ROOT/setup.cfg")"
if ! stamp_ok pkg "$PKG_HASH"; then
  log "installing sensor_fusion (editable)"
  "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
  stamp_set pkg "$PKG_HASH"
fi
