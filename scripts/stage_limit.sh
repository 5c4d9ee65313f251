# Sourced by test.sh: a test stage with a time limit. A stage past its limit has hung; before
# it is stopped, what its servers' processes were doing is printed, last, where a CI log's
# tail keeps it: each process's threads (gdb, where installed), the process tree, the
# sessions and the newest runs.

# run_with_limit SECONDS SCRATCH COMMAND...: runs COMMAND in a process group of its own;
# returns its status, or 124 once it ran past SECONDS (its servers under SCRATCH stopped).
run_with_limit() {
  local limit=$1 scratch_dir=$2 pid waited=0
  shift 2
  setsid "$@" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge "$limit" ]; then
      echo "== the stage ran past its limit of $limit s: it is stopped, and this is where it hung"
      report_hang "$scratch_dir"
      stop_servers_under "$scratch_dir"
      kill -TERM -- "-$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      return 124
    fi
    sleep 5
    waited=$((waited + 5))
  done
  wait "$pid"
}

# The postmasters of the servers whose data folders lie under $1.
postmasters_under() {
  local pidfile
  find "$1" -name postmaster.pid 2>/dev/null | while read -r pidfile; do head -n 1 "$pidfile"; done
}

# A process and its descendants, one pid a line.
process_tree() {
  local child
  echo "$1"
  for child in $(pgrep -P "$1"); do process_tree "$child"; done
}

stop_servers_under() {
  local pidfile
  find "$1" -name postmaster.pid 2>/dev/null | while read -r pidfile; do
    as_pg_user "$PG_BIN/pg_ctl" -D "$(dirname "$pidfile")" -m immediate stop >/dev/null 2>&1 || true
  done
}

# Threads' stacks as function names only: a frame a line, at most 14 a thread.
thread_stacks() {
  gdb -p "$1" -batch -nx -ex "set pagination off" -ex "thread apply all bt 14" 2>/dev/null |
    sed -nE 's/^Thread [0-9]+ .*\((LWP [0-9]+)\).*/  thread \1/p; s/^#([0-9]+) +(0x[0-9a-f]+ in )?([^ ]+).*/    #\1 \3/p'
}

report_hang() {
  local scratch_dir=$1 postmaster pid pidfile socket_dir port
  for postmaster in $(postmasters_under "$scratch_dir"); do
    if command -v gdb >/dev/null; then
      for pid in $(process_tree "$postmaster" | tail -n +2); do
        # the server's own helpers (checkpointer, walwriter, ...) wait as they always do
        case "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" in
          *checkpointer* | *"background writer"* | *walwriter* | *"autovacuum launcher"* | *"logical replication"* | *"stats collector"*) continue ;;
        esac
        echo "-- process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
        thread_stacks "$pid"
      done
    fi
    echo "-- processes of the server $postmaster"
    ps -o pid,ppid,stat,etime,wchan:28,args --forest -p "$(process_tree "$postmaster" | paste -sd,)" 2>/dev/null || true
  done
  find "$scratch_dir" -name postmaster.pid 2>/dev/null | while read -r pidfile; do
    port=$(sed -n 4p "$pidfile")
    socket_dir=$(sed -n 5p "$pidfile")
    echo "-- sessions and newest runs of the server on port $port"
    as_pg_user "$PG_BIN/psql" -h "$socket_dir" -p "$port" -d postgres -X -At -c \
      "SELECT pid, backend_type, state, wait_event_type || ':' || wait_event, left(regexp_replace(query, '\s+', ' ', 'g'), 100)
       FROM pg_stat_activity WHERE backend_type NOT IN ('checkpointer', 'background writer', 'walwriter', 'autovacuum launcher',
         'logical replication launcher') AND pid <> pg_backend_pid()" 2>&1 | head -n 20
    for database in $(as_pg_user "$PG_BIN/psql" -h "$socket_dir" -p "$port" -d postgres -X -At -c \
      "SELECT datname FROM pg_database WHERE datallowconn AND datname NOT IN ('postgres', 'template1')" 2>/dev/null); do
      as_pg_user "$PG_BIN/psql" -h "$socket_dir" -p "$port" -d "$database" -X -At -c \
        "SELECT '$database', id, status, identifier, iterations, left(coalesce(error, ''), 100) FROM pinnacle.runs ORDER BY id DESC LIMIT 5" \
        2>/dev/null || true
    done
  done
}
