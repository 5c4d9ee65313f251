# Sourced by the bench scripts that train on generated images (after scripts/pg_env.sh).
# prepare_image_server ROWS LOG [SETTING=VALUE ...]: builds and installs the extension with
# scripts/build.sh (not with BENCH_INSTALL=0: PG_BIN's installation as it is), starts a
# throwaway server with the settings, generates ROWS images of 784 bytes (bench/data.sql, the
# bytea column only) and creates the extension.
prepare_image_server() {
  local rows=$1 log=$2
  shift 2
  if [ "${BENCH_INSTALL:-1}" != 0 ]; then
    echo "== building and installing the extension (scripts/build.sh)" >&2
    bash scripts/build.sh >>"$log" 2>&1 || { tail -n 20 "$log" >&2; exit 1; }
  fi
  start_throwaway_server "$@"
  echo "== generating $rows rows in SQL" >&2
  psql_run -v rows="$rows" -v bytea_only=1 <bench/data.sql >>"$log"
  psql_run -c "CREATE EXTENSION pinnacle_train"
}
