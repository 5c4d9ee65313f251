#!/usr/bin/env bash
# Installs what is missing, builds the extension and installs it into PostgreSQL 15.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -j"$(nproc)"
make install
