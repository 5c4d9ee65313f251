#!/usr/bin/env bash
# Every test: the core's GoogleTest unit tests (ctest), the SQL surface (pg_regress against a
# throwaway server), and the TAP tests of faults and concurrency (PostgreSQL::Test::Cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_env.sh
source scripts/stage_limit.sh
bash scripts/build.sh

echo "== unit tests (ctest)"
make unittest CTEST_TIMEOUT=300

echo "== SQL tests (pg_regress)"
scratch=$(make_scratch_dir)
trap 'rm -rf "$scratch"' EXIT
cp -r sql expected test/regress.conf "$scratch/"
mkdir -p "$scratch/test" && cp -r test/data "$scratch/test/data"
[ "$(id -u)" = 0 ] && chown -R postgres: "$scratch"
tests=$(make -s print-regress)
# from the scratch folder: the tests read their fixtures from test/data/ and write files beside them
# (a stage's limit is several times its time on a 2-core machine: only a hang reaches it, and
# then the report of where it hung ends the output)
status=0
run_with_limit 1200 "$scratch" env -C "$scratch" "${AS_PG_USER[@]}" "$PG_REGRESS" --inputdir=. --outputdir=. \
  --temp-instance=tmp_check --temp-config=regress.conf --bindir="$PG_BIN" --load-extension=pinnacle_train $tests ||
  status=$?
if [ "$status" != 0 ]; then
  [ "$status" != 124 ] && cat "$scratch/regression.diffs"
  exit 1
fi

echo "== the last release, for the upgrade test (built once into a cache folder, then reused)"
old_install=$(bash scripts/build_release.sh v0.1.0)

echo "== TAP tests (prove, PostgreSQL::Test::Cluster)"
mkdir "$scratch/tap"
cp -r test/t test/perl test/data "$scratch/tap/"
[ "$(id -u)" = 0 ] && chown -R postgres: "$scratch/tap"
tap_tests=$(cd "$scratch/tap" && echo t/*.pl)
set +e
run_with_limit 2400 "$scratch" env -C "$scratch/tap" "${AS_PG_USER[@]}" env PATH="$PG_BIN:$PATH" PG_REGRESS="$PG_REGRESS" \
  PINNACLE_OLD_INSTALL="$old_install" prove -I "$PGXS_DIR/../test/perl" -I perl $tap_tests 2>&1 | tee "$scratch/prove.out"
status=${PIPESTATUS[0]}
set -e
[ "$status" = 124 ] && exit 1
if [ "$status" != 0 ]; then
  # CI keeps only the end of the output: the servers' logs first, then what failed, then prove's summary
  tail -n 30 "$scratch"/tap/tmp_check/log/*.log || true
  for log in "$scratch"/tap/tmp_check/log/regress_log_*; do
    grep -q '^not ok' "$log" || continue
    echo "==> failures in $log"
    grep -B 2 -A 12 '^not ok' "$log" | head -n 120
  done
  sed -n '/^Test Summary Report/,$p' "$scratch/prove.out"
  exit 1
fi
