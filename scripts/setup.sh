#!/usr/bin/env bash
# Installs every Debian package pinnacle_train needs to build, run and test.
# Idempotent: packages already present are not fetched again, and the package
# lists are refreshed only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  postgresql-15 postgresql-server-dev-15 postgresql-15-cron libpq-dev
  libtorch-dev nlohmann-json3-dev libopenblas0-pthread libgloo-dev
  libgtest-dev googletest
  libipc-run-perl
  python3-torch python3-psycopg2
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi

# libtorch calls the system libblas.so.3; OpenBLAS is 25-50x faster than the
# reference BLAS here (DESIGN.md section 5). Make sure it is the chosen alternative.
openblas=$(update-alternatives --list libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep -m1 openblas || true)
if [ -n "$openblas" ]; then
  update-alternatives --set libblas.so.3-x86_64-linux-gnu "$openblas" >/dev/null
fi
