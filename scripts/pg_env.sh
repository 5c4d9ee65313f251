# Shared by the scripts: where PostgreSQL 15 lives, and how to run a command as the
# unprivileged user a PostgreSQL server must run as (initdb refuses root).
PG_BIN=/usr/lib/postgresql/15/bin
PGXS_DIR=$(dirname "$(pg_config --pgxs)")
PG_REGRESS="$PGXS_DIR/../test/regress/pg_regress"

as_pg_user() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A directory the server's user can write, removed when the calling script exits.
make_scratch_dir() {
  local dir
  dir=$(mktemp -d /tmp/pinnacle.XXXXXX)
  chmod 755 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  echo "$dir"
}

free_port() {
  local port
  for port in $(seq 55432 55532); do
    if ! (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  echo "no free port between 55432 and 55532" >&2
  return 1
}
