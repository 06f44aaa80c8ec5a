#!/usr/bin/env bash
# Manages a throwaway PostgreSQL 15 cluster for the tests (used by `make test`).
#
#   scripts/pg-cluster.sh start DIR   create and start a fresh cluster in DIR (a cluster left in DIR
#                                     by an interrupted run is stopped and removed first), write
#                                     DIR/env, print "==> PostgreSQL 15 on 127.0.0.1:PORT (DIR)"
#   scripts/pg-cluster.sh stop DIR    stop it (pg_ctl stop -m fast, else kill the postmaster) and
#                                     remove DIR; idempotent (exit 0 when nothing is there)
#   scripts/pg-cluster.sh env DIR     print DIR/env
#
# DIR/env holds LOGLINE_TEST_PG_DSN (database logline, owner logline_owner: CREATEROLE, not a
# superuser), LOGLINE_TEST_PG_APP_DSN (logline_app_user, member of the NOLOGIN role logline_app),
# LOGLINE_TEST_PG_ADMIN_DSN (superuser logline_admin) and LOGLINE_TEST_PG_BIN; load it with
#   set -a; . DIR/env; set +a
# The server listens on 127.0.0.1 only (random free port in 20000-60000, trust authentication)
# and runs without fsync, unless LOGLINE_PG_DURABLE=1 (the benchmarks: durable commits, as in
# production). Its log: DIR/server.log.
#
# As root, initdb/pg_ctl/postgres run as the `postgres` system user (package postgresql-common).
# When that user cannot write DIR (e.g. DIR lies below a directory it cannot traverse) or DIR is
# too long a path for a Unix socket, the cluster lives in /tmp/logline-pg.XXXXXX instead; DIR then
# holds the path in DIR/datadir (and a symlink server.log), and `stop` removes both.
# LOGLINE_PG_BIN overrides the server binary directory (default /usr/lib/postgresql/15/bin).
set -euo pipefail

prog=pg-cluster.sh
PG_BIN=${LOGLINE_PG_BIN:-/usr/lib/postgresql/15/bin}
MARKER=.logline-pg-cluster    # marks DIR as ours: only such directories are ever removed
SERVER_USER=postgres          # used when running as root

die() { echo "$prog: $*" >&2; exit 1; }

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
}

# Connection and behaviour variables of libpq/psql in the caller's environment must not interfere.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGPASSFILE PGSERVICE PGSERVICEFILE \
      PGOPTIONS PGSSLMODE PGTARGETSESSIONATTRS PGDATA PSQLRC 2>/dev/null || true
export PSQLRC=/dev/null

is_root() { [[ $(id -u) -eq 0 ]]; }

# Runs a command as the server user (root: the postgres user, from / so that the working directory
# is always accessible; otherwise: the current user).
as_server() {
  if is_root; then
    (cd / && runuser -u "$SERVER_USER" -- "$@")
  else
    "$@"
  fi
}

check_binaries() {
  local tool
  for tool in initdb pg_ctl postgres psql; do
    [[ -x "$PG_BIN/$tool" ]] || die "$PG_BIN/$tool not found; run scripts/install-deps.sh"
  done
  if is_root; then
    command -v runuser >/dev/null 2>&1 || die "runuser not found (package util-linux)"
    id -u "$SERVER_USER" >/dev/null 2>&1 ||
      die "running as root needs the '$SERVER_USER' system user (package postgresql-common); run scripts/install-deps.sh"
  fi
}

# The directory holding data/ and server.log: DIR itself, or the one recorded in DIR/datadir.
cluster_root() {
  local dir=$1 root
  if [[ -f "$dir/datadir" ]]; then
    root=$(<"$dir/datadir")
    # Only ever a directory made by `start` (mktemp -d /tmp/logline-pg.XXXXXX).
    [[ "$root" =~ ^/tmp/logline-pg\.[A-Za-z0-9]+$ ]] || die "$dir/datadir: unexpected path '$root'"
    printf '%s\n' "$root"
  else
    printf '%s\n' "$dir"
  fi
}

# Waits up to $2 seconds (tenths granularity) for process $1 to disappear.
wait_gone() {
  local pid=$1 tenths=$(( $2 * 10 ))
  while (( tenths-- > 0 )); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  ! kill -0 "$pid" 2>/dev/null
}

# Stops the postmaster of the cluster whose data directory is $1, if one is running.
stop_server() {
  local data=$1 pidfile=$1/postmaster.pid pid
  [[ -f "$pidfile" ]] || return 0
  if [[ -x "$PG_BIN/pg_ctl" ]] &&
     as_server "$PG_BIN/pg_ctl" stop -D "$data" -m fast -w -t 30 >/dev/null 2>&1; then
    return 0
  fi
  [[ -f "$pidfile" ]] || return 0
  pid=$(head -n 1 "$pidfile" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  # Make sure the pid (possibly stale and reused) is a postgres process before killing it.
  if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'postgres'; then
    return 0
  fi
  echo "$prog: pg_ctl stop failed; killing postmaster $pid ($data)" >&2
  # SIGQUIT = immediate shutdown: the postmaster takes its children down (SIGKILL after 5 s).
  kill -QUIT "$pid" 2>/dev/null || true
  wait_gone "$pid" 15 && return 0
  # Backends notice the postmaster's death and exit on their own.
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" 10 || die "could not kill postmaster $pid ($data)"
  sleep 1
}

cmd_stop() {
  local dir=$1 root
  [[ -e "$dir" || -L "$dir" ]] || return 0
  [[ -d "$dir" ]] || die "$dir exists and is not a directory; not touching it"
  if [[ ! -e "$dir/$MARKER" ]]; then
    # Not made by this script: remove it only when empty.
    if [[ -z "$(ls -A "$dir")" ]]; then rmdir "$dir"; return 0; fi
    die "$dir is not a cluster made by $prog (no $MARKER); not removing it"
  fi
  root=$(cluster_root "$dir")
  stop_server "$root/data"
  if [[ "$root" != "$dir" ]]; then rm -rf -- "$root"; fi
  rm -rf -- "$dir"
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

random_free_port() {
  local port _
  for _ in $(seq 100); do
    port=$(( 20000 + ((RANDOM << 15) | RANDOM) % 40001 ))
    if ! port_in_use "$port"; then echo "$port"; return 0; fi
  done
  die "no free TCP port found in 20000-60000"
}

# Writes stdin to file $1 as the server user (so that the server can read it).
write_as_server() {
  as_server tee "$1" >/dev/null
}

start_dir="" start_data="" start_log=""
on_start_exit() {
  local status=$?
  trap - EXIT
  if [[ $status -ne 0 ]]; then
    if [[ -s "$start_log" ]]; then
      echo "$prog: last lines of $start_log:" >&2
      tail -n 40 "$start_log" >&2 || true
    fi
    stop_server "$start_data" || true
    echo "$prog: start failed; files left in $start_dir (remove them with: $0 stop $start_dir)" >&2
  fi
  exit "$status"
}

cmd_start() {
  local dir=$1 root data log port ok logsize out=""
  check_binaries

  # A cluster from an interrupted run: stop and remove it first.
  if [[ -e "$dir" || -L "$dir" ]]; then
    echo "==> $dir exists; stopping and removing the cluster there first"
    cmd_stop "$dir"
  fi
  mkdir -p -- "$dir"
  : >"$dir/$MARKER"

  root=$dir
  if is_root; then
    chown "$SERVER_USER:" "$dir"
    if ! (cd / && runuser -u "$SERVER_USER" -- test -d "$dir" -a -w "$dir" -a -x "$dir"); then
      root=""
    fi
  fi
  # Unix socket paths are limited to 107 bytes: "<root>/data/.s.PGSQL.NNNNN".
  if [[ -n "$root" ]] && (( ${#root} + 20 > 100 )); then root=""; fi
  if [[ -z "$root" ]]; then
    root=$(mktemp -d /tmp/logline-pg.XXXXXX)
    printf '%s\n' "$root" >"$dir/datadir"
    if is_root; then chown "$SERVER_USER:" "$root"; fi
    ln -s "$root/server.log" "$dir/server.log"
  fi
  data=$root/data
  log=$root/server.log

  # On any failure from here on: show the server log, stop a server we started, keep the files
  # (`stop DIR` removes them).
  start_dir=$dir start_data=$data start_log=$log
  trap on_start_exit EXIT

  if ! as_server "$PG_BIN/initdb" -D "$data" -U logline_admin --auth=trust -E UTF8 --locale=C \
        --no-sync >"$root/initdb.log" 2>&1; then
    cat "$root/initdb.log" >&2
    die "initdb failed (log above: $root/initdb.log)"
  fi

  if [[ "${LOGLINE_PG_DURABLE:-0}" == 1 ]]; then
    durability="# durable (LOGLINE_PG_DURABLE=1): fsync, synchronous_commit and full_page_writes as shipped"
  else
    durability=$'fsync = off\nsynchronous_commit = off\nfull_page_writes = off'
  fi
  cat <<EOF | write_as_server "$data/logline.conf"
# Throwaway cluster (scripts/pg-cluster.sh): loopback only.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$data'
$durability
max_connections = 200
shared_buffers = 128MB
include_if_exists = 'logline-port.conf'
EOF
  printf "include = 'logline.conf'\n" | as_server tee -a "$data/postgresql.conf" >/dev/null

  ok=0
  for _ in 1 2 3 4 5; do
    port=$(random_free_port)
    printf 'port = %s\n' "$port" | write_as_server "$data/logline-port.conf"
    logsize=0
    if [[ -f "$log" ]]; then logsize=$(stat -c %s "$log"); fi
    if out=$(as_server "$PG_BIN/pg_ctl" start -D "$data" -l "$log" -w -t 60 2>&1); then
      ok=1
      break
    fi
    stop_server "$data"
    # Retry with another port only when the port was the problem.
    if ! grep -qE 'could not bind|could not create any TCP/IP sockets|Address already in use' \
         < <(tail -c +"$((logsize + 1))" "$log" 2>/dev/null); then
      break
    fi
    echo "$prog: port $port was taken; retrying with another one" >&2
  done
  if (( ! ok )); then
    printf '%s\n' "$out" >&2
    die "could not start the PostgreSQL server in $data"
  fi

  "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U logline_admin -d postgres \
      -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || die "creating the roles and the logline database failed"
CREATE ROLE logline_owner LOGIN CREATEROLE;
CREATE ROLE logline_app NOLOGIN;
CREATE ROLE logline_app_user LOGIN IN ROLE logline_app;
CREATE DATABASE logline OWNER logline_owner;
SQL

  local base="host=127.0.0.1 port=$port dbname=logline"
  cat >"$dir/env.tmp" <<EOF
LOGLINE_TEST_PG_DSN='$base user=logline_owner'
LOGLINE_TEST_PG_APP_DSN='$base user=logline_app_user'
LOGLINE_TEST_PG_ADMIN_DSN='$base user=logline_admin'
LOGLINE_TEST_PG_BIN='$PG_BIN'
EOF
  mv "$dir/env.tmp" "$dir/env"

  "$PG_BIN/psql" -X -q -At -d "$base user=logline_app_user" -c 'select 1' >/dev/null ||
    die "cannot connect as logline_app_user"

  echo "==> PostgreSQL 15 on 127.0.0.1:$port ($dir)"
}

cmd_env() {
  local dir=$1
  [[ -f "$dir/env" ]] || die "$dir/env not found; run: $0 start $dir"
  cat "$dir/env"
}

main() {
  if [[ $# -eq 1 && ( $1 == -h || $1 == --help ) ]]; then usage; exit 0; fi
  [[ $# -eq 2 ]] || { usage >&2; exit 2; }
  local cmd=$1 dir=$2
  [[ -n "$dir" ]] || die "empty DIR"
  dir=$(realpath -m -- "$dir")
  [[ "$dir" != / ]] || die "refusing to use / as DIR"
  case "$cmd" in
    start) cmd_start "$dir" ;;
    stop)  cmd_stop "$dir" ;;
    env)   cmd_env "$dir" ;;
    *)     echo "$prog: unknown command '$cmd' (use: start, stop, env)" >&2; usage >&2; exit 2 ;;
  esac
}

main "$@"
