# Shared by the scripts: where PostgreSQL 15 lives, and how to run a command as the
# unprivileged user a PostgreSQL server must run as (initdb refuses root). PG_BIN may name
# another installation's bin folder, such as a private copy with the extension installed.
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PGXS_DIR=$(dirname "$(pg_config --pgxs)")
PG_REGRESS="$PGXS_DIR/../test/regress/pg_regress"

# The same as a command prefix, for commands run through another (setsid, env -C).
AS_PG_USER=()
[ "$(id -u)" = 0 ] && AS_PG_USER=(runuser -u postgres --)

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

# Starts a throwaway server in a new scratch folder on a free port, stopped and removed when
# the calling script exits (with any other server a script starts in $scratch/*/data);
# defines psql_run to talk to it. Arguments are more server settings, e.g.
# shared_preload_libraries=pinnacle_train.
start_throwaway_server() {
  local settings="" setting
  for setting in "$@"; do settings+=" -c $setting"; done
  scratch=$(make_scratch_dir)
  port=$(free_port)
  trap 'for data in "$scratch"/data "$scratch"/*/data; do
          [ -d "$data" ] && as_pg_user "$PG_BIN/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1
        done; rm -rf "$scratch"' EXIT
  as_pg_user "$PG_BIN/initdb" -D "$scratch/data" -U postgres --auth=trust >/dev/null
  as_pg_user "$PG_BIN/pg_ctl" -D "$scratch/data" -l "$scratch/server.log" -w \
    -o "-p $port -k $scratch -c listen_addresses=''$settings" start >/dev/null
}

psql_run() { as_pg_user psql -h "$scratch" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -X -q "$@"; }

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
