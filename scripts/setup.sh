#!/usr/bin/env bash
# Set up Nodal in this checkout: the system packages containers need, a .venv with
# Python >= 3.11, and Nodal installed into it (editable). Safe to run again: a second
# run only checks, and skips pip while pyproject.toml is unchanged.
#
#   bash scripts/setup.sh          # to use Nodal (.venv/bin/modal)
#   bash scripts/setup.sh --dev    # also the test and lint tools
#
# Works on Debian/Ubuntu as root, or as a user with sudo (for missing apt packages).
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }

dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; usage >&2; exit 2 ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd -P)
export DEBIAN_FRONTEND=noninteractive

say() { echo "setup: $*" >&2; }

# ---- system packages (only what is missing) -------------------------------------------
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n "$@"
  elif command -v sudo >/dev/null 2>&1 && [ -t 0 ]; then sudo "$@"
  else return 1
  fi
}

installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }

apt_install() {
  say "installing $*"
  if ! as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
    as_root apt-get update -qq >/dev/null 2>&1 || true
    as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  fi
}

if command -v dpkg >/dev/null 2>&1; then
  missing=()
  for p in bubblewrap mmdebstrap slirp4netns uidmap crun iproute2; do
    installed "$p" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}" || say "could not install ${missing[*]} (need root or sudo); containers will not work until they are installed"
  fi
  # --dev: wrk (bench/web.py's load generator), chromium (the web endpoints' browser test) and
  # chromium-driver (Selenium drives it in tests/test_dashboard_browser.py)
  if [ "$dev" -eq 1 ]; then
    web_missing=()
    for p in wrk chromium chromium-driver; do installed "$p" || web_missing+=("$p"); done
    if [ "${#web_missing[@]}" -gt 0 ]; then
      apt_install "${web_missing[@]}" || say "could not install ${web_missing[*]}; the web benchmark / browser test will be skipped"
    fi
  fi
  # --dev: Debian's docker-registry, the real registry the Image.from_registry tests push to
  if [ "$dev" -eq 1 ] && ! installed docker-registry; then
    if apt_install docker-registry; then
      # the tests start their own on loopback: don't leave the package's service listening on :5000
      if command -v systemctl >/dev/null 2>&1; then as_root systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi
    else
      say "could not install docker-registry; its from_registry test will be skipped"
    fi
  fi
  # --dev: Debian's PostgreSQL server binaries: tests/conftest_postgres.py runs its own server on loopback
  if [ "$dev" -eq 1 ] && ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if apt_install postgresql; then
      # the tests start their own: don't leave the package's cluster listening on :5432
      if command -v systemctl >/dev/null 2>&1; then as_root systemctl disable --now postgresql >/dev/null 2>&1 || true; fi
      as_root service postgresql stop >/dev/null 2>&1 || true
    else
      say "could not install postgresql; the PostgreSQL store tests will be skipped"
    fi
  fi
else
  say "not a Debian/Ubuntu system: install bubblewrap mmdebstrap slirp4netns uidmap crun iproute2 yourself"
fi

# ---- Python >= 3.11 with venv ----------------------------------------------------------
py_ok() { "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }

find_python() {
  local c
  for c in ${PYTHON:-} python3.13 python3.12 python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && py_ok "$c"; then command -v "$c"; return 0; fi
  done
  return 1
}

venv_ok() {
  [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

if ! venv_ok; then
  if ! py=$(find_python); then
    if command -v apt-get >/dev/null 2>&1; then
      apt_install python3 python3-venv || true
      py=$(find_python) || { apt_install python3.11 python3.11-venv || true; py=$(find_python) || true; }
    fi
    [ -n "${py:-}" ] || { say "need Python >= 3.11 with the venv module (Debian: apt-get install python3 python3-venv)"; exit 1; }
  fi
  rm -rf .venv
  say "creating .venv with $("$py" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])')"
  "$py" -m venv .venv
fi

# ---- Nodal itself (skipped while pyproject.toml and the install are unchanged) ---------
stamp=.venv/.nodal-setup-stamp
base="$(sha256sum pyproject.toml | cut -d' ' -f1) py$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
want=$base
[ "$dev" -eq 1 ] && want="$base dev"
have=$(cat "$stamp" 2>/dev/null || true)
installed_here() {  # the editable install points at this checkout's src/
  .venv/bin/python - "$repo/src" <<'EOF' >/dev/null 2>&1
import importlib.util, os, sys
spec = importlib.util.find_spec("nodal")
sys.exit(0 if spec and spec.origin and os.path.realpath(spec.origin).startswith(os.path.realpath(sys.argv[1])) else 1)
EOF
}
if { [ "$have" != "$want" ] && [ "$have" != "$base dev" ]; } || [ ! -x .venv/bin/modal ] || ! installed_here; then
  target="."
  [ "$dev" -eq 1 ] && target=".[dev]"
  say "installing nodal into .venv (pip install -e '$target')"
  log=.venv/.nodal-pip.log
  pip=(.venv/bin/python -m pip install -q --disable-pip-version-check -e "$target")
  if ! "${pip[@]}" >"$log" 2>&1; then
    say "retrying without build isolation (no package index reachable?)"
    if ! "${pip[@]}" --no-build-isolation >>"$log" 2>&1; then
      tail -n 30 "$log" >&2
      say "pip install failed; full log in $log"
      exit 1
    fi
  fi
  echo "$want" >"$stamp"
fi
