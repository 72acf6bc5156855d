# shellcheck shell=bash
# A private PostgreSQL cluster (not Debian's system cluster) under .data/postgres.
# Sourced by scripts/services, which sets ROOT, DATA_DIR, PG_PORT, START_TIMEOUT, STOP_TIMEOUT.

PG_DIR="$DATA_DIR/postgres"
PG_DATA="$PG_DIR/data"
PG_LOG="$PG_DIR/postgres.log"
PG_SOCKET_DIR="$PG_DIR/run"
# A unix socket path must fit in 108 bytes ("<dir>/.s.PGSQL.<port>"); deep checkouts use /tmp.
((${#PG_SOCKET_DIR} + 20 > 100)) && PG_SOCKET_DIR=/tmp
PG_OS_USER=postgres
PG_URL="postgresql+psycopg://sendgate:sendgate@127.0.0.1:$PG_PORT/sendgate"
PG_BIN=""

pg_addr() { printf '127.0.0.1:%s' "$PG_PORT"; }

# pg_running_port: the port the running cluster was started with (from sendgate.conf).
pg_running_port() {
    sed -n 's/^port = \([0-9]*\)$/\1/p' "$PG_DATA/sendgate.conf" 2>/dev/null | head -n 1
}

pg_check_running_port() {
    local running
    running=$(pg_running_port)
    [[ -z $running || $running == "$PG_PORT" ]] && return 0
    die "postgres is already running (pid $1) on port $running, not $PG_PORT;" \
        "'scripts/services restart postgres' applies the requested port"
}

# pg_run CMD...: run CMD as the cluster's owner. initdb and postgres refuse to run as root,
# so as root that is the postgres OS user; otherwise the current user. Runs from / (the
# postgres user may not be allowed into the caller's cwd); fd 9 (our lock) is not inherited.
pg_run() {
    if ((EUID == 0)); then
        if command -v runuser >/dev/null 2>&1; then
            (cd / && runuser -u "$PG_OS_USER" -- "$@" 9>&-)
        else
            (cd / && su "$PG_OS_USER" -s /bin/bash -c "$(printf '%q ' "$@")" 9>&-)
        fi
    else
        (cd / && "$@" 9>&-)
    fi
}

# pg_alive PID: PID is a live postmaster serving our data directory.
pg_alive() {
    local cmd
    cmd=$(cmdline_of "$1")
    [[ $cmd == *postgres* && $cmd == *"$PG_DATA"* ]]
}

# pg_pid: print the postmaster's pid if our cluster is running, else fail.
pg_pid() {
    local pid
    [[ -f $PG_DATA/postmaster.pid ]] || return 1
    pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null | tr -dc '0-9') || return 1
    [[ -n $pid ]] && pg_alive "$pid" && echo "$pid"
}

# pg_find_bin: the newest installed server, unless the data dir needs a specific major.
pg_find_bin() {
    local v
    if [[ -n ${SENDGATE_PG_BIN:-} ]]; then
        PG_BIN=$SENDGATE_PG_BIN
        return 0
    fi
    if [[ -f $PG_DATA/PG_VERSION ]]; then
        v=$(tr -d '[:space:]' <"$PG_DATA/PG_VERSION")
        if [[ -x /usr/lib/postgresql/$v/bin/postgres ]]; then
            PG_BIN=/usr/lib/postgresql/$v/bin
            return 0
        fi
    fi
    PG_BIN=$( (ls -d /usr/lib/postgresql/*/bin 2>/dev/null || true) | sort -V | tail -n 1)
}

pg_major_of_bin() {
    "$PG_BIN/pg_ctl" --version | sed -n 's/.* \([0-9][0-9]*\)\(\.[0-9]*\)*.*/\1/p' | head -n 1
}

pg_ensure_installed() {
    pg_find_bin
    if [[ -z $PG_BIN || ! -x $PG_BIN/initdb ]]; then
        apt_install postgresql
        pg_find_bin
    fi
    [[ -n $PG_BIN && -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl ]] ||
        die "no PostgreSQL server found under /usr/lib/postgresql/*/bin"
    if [[ -f $PG_DATA/PG_VERSION ]]; then
        local have want
        have=$(tr -d '[:space:]' <"$PG_DATA/PG_VERSION")
        want=$(pg_major_of_bin)
        [[ $have == "$want" ]] ||
            die ".data/postgres/data was made by PostgreSQL $have but only $want is installed;" \
                "remove .data/postgres to recreate the (test) cluster"
    fi
}

pg_ensure_os_user() {
    ((EUID == 0)) || return 0
    id -u "$PG_OS_USER" >/dev/null 2>&1 && return 0
    log "creating system user $PG_OS_USER"
    if getent group "$PG_OS_USER" >/dev/null 2>&1; then
        useradd --system -g "$PG_OS_USER" -d /var/lib/postgresql -s /bin/bash "$PG_OS_USER"
    else
        useradd --system --user-group -d /var/lib/postgresql -s /bin/bash "$PG_OS_USER"
    fi
}

# As root the postgres user must be able to walk down to .data/postgres: add o+x (traverse
# only, not read) where it cannot. Inside the project that is expected; above it we warn.
pg_ensure_traversable() {
    ((EUID == 0)) || return 0
    local d="" comp
    local -a parts
    IFS='/' read -r -a parts <<<"${PG_DIR#/}"
    for comp in "${parts[@]}"; do
        d="$d/$comp"
        [[ $d == "$PG_DIR" ]] && break
        pg_run test -x "$d" && continue
        if [[ $d != "$ROOT" && $d != "$ROOT"/* ]]; then
            warn "adding o+x (traverse only) to $d so the $PG_OS_USER user can reach $PG_DIR"
        fi
        chmod o+x "$d"
    done
    pg_run test -x "$PG_DIR" || die "the $PG_OS_USER user cannot reach $PG_DIR"
}

pg_prepare_dirs() {
    mkdir -p "$PG_DIR"
    [[ $PG_SOCKET_DIR == /tmp ]] || mkdir -p "$PG_SOCKET_DIR"
    [[ -f $PG_LOG ]] && mv -f "$PG_LOG" "$PG_LOG.1"
    : >"$PG_LOG"
    chmod 711 "$PG_DIR"  # data/ itself stays 0700; 711 lets other users reach run/
    [[ $PG_SOCKET_DIR == /tmp ]] || chmod 755 "$PG_SOCKET_DIR"
    if ((EUID == 0)); then
        chown "$PG_OS_USER:" "$PG_DIR" "$PG_LOG"
        [[ $PG_SOCKET_DIR == /tmp ]] || chown "$PG_OS_USER:" "$PG_SOCKET_DIR"
        if [[ -d $PG_DATA && $(stat -c %U "$PG_DATA") != "$PG_OS_USER" ]]; then
            chown -R "$PG_OS_USER:" "$PG_DATA"
        fi
    fi
}

pg_initdb() {
    [[ -f $PG_DATA/PG_VERSION ]] && return 0
    # A data dir without PG_VERSION is what an interrupted initdb leaves: not a cluster.
    [[ -d $PG_DATA ]] && rm -rf "$PG_DATA"
    local initdb_log="$PG_DIR/initdb.log"
    log "creating a PostgreSQL $(pg_major_of_bin) cluster in .data/postgres/data"
    local -a args=(-D "$PG_DATA" --auth=trust --username=postgres -E UTF8)
    if ! pg_run "$PG_BIN/initdb" "${args[@]}" --locale=C.UTF-8 >"$initdb_log" 2>&1; then
        warn "initdb with locale C.UTF-8 failed; retrying with locale C"
        rm -rf "$PG_DATA"
        if ! pg_run "$PG_BIN/initdb" "${args[@]}" --locale=C >>"$initdb_log" 2>&1; then
            show_log_tail "$initdb_log"
            die "initdb failed (full log: $initdb_log)"
        fi
    fi
}

pg_write_config() {
    local conf="$PG_DATA/sendgate.conf"
    cat >"$conf" <<EOF
# Written by scripts/services on every start; change the script, not this file.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
max_connections = 200
# DEVELOPMENT / TEST CLUSTER ONLY: durability is traded for speed. After a crash of the
# machine (not just of PostgreSQL) this cluster may be corrupt; delete .data/postgres then.
# Never copy these three settings to a database whose data matters.
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    if ! grep -q "^include_if_exists = 'sendgate.conf'" "$PG_DATA/postgresql.conf"; then
        printf '\n# Added by scripts/services: its settings override the ones above.\n%s\n' \
            "include_if_exists = 'sendgate.conf'" >>"$PG_DATA/postgresql.conf"
    fi
    if ((EUID == 0)); then chown "$PG_OS_USER:" "$conf"; fi
    chmod 600 "$conf"
}

pg_isready_now() {
    if [[ -n $PG_BIN && -x $PG_BIN/pg_isready ]]; then
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2 9>&-
    else
        tcp_open 127.0.0.1 "$PG_PORT"
    fi
}

# pg_wait_ready START: bounded wait (from START, in $SECONDS) until pg_isready says yes.
pg_wait_ready() {
    local start=$1 pid
    until pg_isready_now; do
        if ! pid=$(pg_pid); then
            show_log_tail "$PG_LOG" 40
            die "postgres exited during startup (see $PG_LOG)"
        fi
        if ((SECONDS - start >= START_TIMEOUT)); then
            show_log_tail "$PG_LOG" 40
            die "postgres (pid $pid) did not accept connections within ${START_TIMEOUT}s" \
                "(SENDGATE_SERVICE_TIMEOUT_S); it is left running: 'scripts/services stop postgres'"
        fi
        sleep 0.3
    done
}

# Role and database "sendgate", created if missing (idempotent; the password is re-set).
pg_ensure_role_db() {
    local out
    if ! out=$("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" \
        -U postgres -d postgres 2>&1 9>&- <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sendgate') THEN
        CREATE ROLE sendgate LOGIN CREATEDB PASSWORD 'sendgate';
    ELSE
        ALTER ROLE sendgate LOGIN CREATEDB PASSWORD 'sendgate';
    END IF;
END
$$;
SELECT 'CREATE DATABASE sendgate OWNER sendgate'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'sendgate')\gexec
SQL
    ); then
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        die "could not create role/database sendgate"
    fi
}

pg_start() {
    local pid start=$SECONDS
    if pid=$(pg_pid); then
        pg_check_running_port "$pid"
        pg_find_bin
        pg_wait_ready "$start"
        pg_ensure_role_db
        log "postgres already running (pid $pid) on $(pg_addr)"
        log "postgres URL: $PG_URL"
        return 0
    fi
    tcp_open 127.0.0.1 "$PG_PORT" && die_port_taken "$PG_PORT" "PostgreSQL port" SENDGATE_PG_PORT

    pg_ensure_installed
    pg_ensure_os_user
    pg_prepare_dirs
    pg_ensure_traversable
    pg_initdb
    pg_write_config
    # pg_pid said no postmaster of ours runs: a leftover lock file is stale.
    rm -f "$PG_DATA/postmaster.pid"

    log "starting postgres $(pg_major_of_bin) on $(pg_addr) (data .data/postgres/data)"
    if ! pg_run "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$START_TIMEOUT" start \
        >/dev/null 2>&1; then
        show_log_tail "$PG_LOG" 40
        if pid=$(pg_pid); then
            die "postgres (pid $pid) did not become ready within ${START_TIMEOUT}s; it is left" \
                "running: 'scripts/services stop postgres'"
        fi
        die "postgres failed to start (see $PG_LOG)"
    fi
    pg_wait_ready "$start"
    pg_ensure_role_db
    pid=$(pg_pid) || die "postgres exited right after starting (see $PG_LOG)"
    log "postgres ready on $(pg_addr) (pid $pid, $((SECONDS - start))s)"
    log "postgres URL: $PG_URL"
}

# Stop with signals to the postmaster (no pg_ctl needed): SIGINT = fast shutdown, then
# SIGQUIT = immediate shutdown, then SIGKILL.
pg_stop() {
    local pid
    if ! pid=$(pg_pid); then
        log "postgres is not running"
        return 0
    fi
    log "stopping postgres (pid $pid)"
    kill -INT "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$STOP_TIMEOUT" pg_alive; then
        warn "postgres (pid $pid) did not exit within ${STOP_TIMEOUT}s; immediate shutdown (SIGQUIT)"
        kill -QUIT "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 10 pg_alive; then
            warn "postgres (pid $pid) still running; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 10 pg_alive || die "postgres (pid $pid) survived SIGKILL"
        fi
    fi
    log "postgres stopped"
}

# pg_status: one line; returns 0 if running and accepting connections, 3 otherwise.
pg_status() {
    local pid
    if pid=$(pg_pid); then
        local running
        running=$(pg_running_port)
        if [[ -n $running && $running != "$PG_PORT" ]]; then
            PG_PORT=$running
            PG_URL="postgresql+psycopg://sendgate:sendgate@127.0.0.1:$PG_PORT/sendgate"
        fi
        pg_find_bin
        if pg_isready_now; then
            log "postgres  running   pid $pid  $(pg_addr)  $PG_URL"
            return 0
        fi
        log "postgres  starting  pid $pid  $(pg_addr) (process up, not accepting connections yet)"
        return 3
    fi
    log "postgres  stopped   -  $(pg_addr)"
    return 3
}
