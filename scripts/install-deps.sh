#!/usr/bin/env bash
# Installs the Debian 12 packages logline needs, and only those that are missing (idempotent:
# when everything is installed it runs no apt command at all).
#
#   scripts/install-deps.sh            build, test and benchmark packages (what `make test` needs)
#   scripts/install-deps.sh fuzz       the above + clang-14 and libFuzzer (what `make fuzz` needs)
#   scripts/install-deps.sh --check    list the missing packages and exit 1 if any, install nothing
#
# Runs apt-get directly as root, through sudo otherwise.
set -euo pipefail

# Build and test.
packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost-dev libsodium-dev libsqlite3-dev sqlite3 nlohmann-json3-dev
  catch2 libbenchmark-dev b3sum clang-format-14
  openssl curl
)
# ---- Later additions (DESIGN.md §2): PostgreSQL backend, HTTP server, scheduler, Lua sandbox.
# ---- Installed already so that adding their targets needs no change here; append new ones here.
packages+=(
  libpq-dev postgresql-15
  libcpp-httplib-dev libssl-dev
  libhowardhinnant-date-dev tzdata
  liblua5.4-dev
)
# Fuzzing (make fuzz) only: clang and its libFuzzer/sanitizer runtimes.
fuzz_packages=(clang-14 libclang-rt-14-dev)

check_only=0
for arg in "$@"; do
  case "$arg" in
    fuzz) packages+=("${fuzz_packages[@]}") ;;
    --check) check_only=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown argument '$arg' (use: fuzz, --check)" >&2; exit 2 ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps.sh: this script needs a Debian-based system (dpkg-query and apt-get)." >&2
  echo "Install these packages (Debian 12 names) by other means: ${packages[*]}" >&2
  exit 1
fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != "installed" ]]; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps.sh: all ${#packages[@]} packages are installed."
  exit 0
fi
echo "install-deps.sh: missing: ${missing[*]}"
if ((check_only)); then
  exit 1
fi

if [[ "$(id -u)" == 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps.sh: installing needs root: run as root, or install sudo, or install by hand:" >&2
  echo "  apt-get install ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_options=(-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get "${apt_options[@]}" install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps.sh: installed ${missing[*]}"
