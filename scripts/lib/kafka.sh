# shellcheck shell=bash
# Kafka 3.9 (KRaft, one node) from Maven Central jars. Sourced by scripts/services,
# which sets ROOT, DATA_DIR, KAFKA_PORT, KAFKA_CONTROLLER_PORT, START_TIMEOUT, STOP_TIMEOUT.

KAFKA_POM="$ROOT/services/kafka/pom.xml"
KAFKA_TEMPLATE="$ROOT/services/kafka/server.properties.template"
KAFKA_DIR="$DATA_DIR/kafka"
KAFKA_LIBS="$KAFKA_DIR/libs"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_LOG4J="$KAFKA_DIR/log4j.properties"
KAFKA_TOOLS_LOG4J="$KAFKA_DIR/tools-log4j.properties"
KAFKA_LOG_DIRS="$KAFKA_DIR/logs"
KAFKA_BROKER_LOG="$KAFKA_DIR/broker.log"
KAFKA_PIDFILE="$KAFKA_DIR/broker.pid"
KAFKA_CLUSTER_ID_FILE="$KAFKA_DIR/cluster.id"
KAFKA_HEAP_OPTS="${SENDGATE_KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"

# The version comes from the pom (one place to bump it); 3.9.1 if it cannot be read.
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM" 2>/dev/null | head -n 1)
KAFKA_VERSION=${KAFKA_VERSION:-3.9.1}
KAFKA_MAIN_JAR="kafka_2.13-$KAFKA_VERSION.jar"

kafka_addr() { printf '127.0.0.1:%s' "$KAFKA_PORT"; }

# A running broker keeps the ports it was started with; refuse to pretend otherwise.
kafka_check_running_ports() {
    local want="listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT"
    grep -qxF "$want" "$KAFKA_PROPS" 2>/dev/null && return 0
    die "kafka is already running (pid $1) with other ports ($(grep -m1 '^listeners=' \
        "$KAFKA_PROPS" 2>/dev/null || echo unknown)); 'scripts/services restart kafka' applies" \
        "the requested ones"
}

# is_our_kafka PID: PID is a live broker running on our server.properties.
is_our_kafka() {
    local cmd
    cmd=$(cmdline_of "$1")
    [[ $cmd == *" kafka.Kafka $KAFKA_PROPS"* ]]
}

# kafka_pid: print the pid of our running broker, or fail. Trusts the pid file only if the
# process really is our broker (pids get reused); if the file is missing or stale, looks for
# a broker started on our config anyway (e.g. the pid file was deleted).
kafka_pid() {
    local pid="" d
    [[ -f $KAFKA_PIDFILE ]] && pid=$(tr -dc '0-9' <"$KAFKA_PIDFILE")
    if [[ -n $pid ]] && is_our_kafka "$pid"; then
        echo "$pid"
        return 0
    fi
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        if is_our_kafka "$pid"; then
            [[ -d $KAFKA_DIR ]] && echo "$pid" >"$KAFKA_PIDFILE"
            echo "$pid"
            return 0
        fi
    done
    return 1
}

# kafka_api_versions_ok: the broker answers a real Kafka request (ApiVersions v0) on its
# client port. Raw bytes over bash's /dev/tcp: no JVM start, ~1 ms.
#   request : size=12 | api_key=18 | api_version=0 | correlation_id=1 | client_id="sg"
#   response: size(4) | correlation_id(4) | error_code(2) | ...
kafka_api_versions_ok() {
    local reply
    # shellcheck disable=SC2016  # $0 expands in the inner bash
    reply=$(timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "\x00\x00\x00\x0c\x00\x12\x00\x00\x00\x00\x00\x01\x00\x02sg" >&3
        head -c 10 <&3 | od -An -tx1 -v
    ' "$KAFKA_PORT" 2>/dev/null) || return 1
    reply=${reply//[[:space:]]/}
    [[ ${#reply} -eq 20 && ${reply:8:12} == 000000010000 ]]
}

kafka_is_ready() {
    grep -q 'Kafka Server started' "$KAFKA_BROKER_LOG" 2>/dev/null && kafka_api_versions_ok
}

# The jars: fetched once with mvn into a temporary folder, then moved into place, so an
# interrupted download never leaves a half-filled libs folder that looks complete.
kafka_fetch_jars() {
    [[ -f $KAFKA_LIBS/$KAFKA_MAIN_JAR ]] && return 0
    ensure_mvn
    local tmp="$KAFKA_DIR/libs.download" mvn_log="$KAFKA_DIR/mvn.log"
    log "fetching Kafka $KAFKA_VERSION jars from Maven Central into .data/kafka/libs" \
        "(first run only; a minute or two)"
    rm -rf "$tmp"
    if ! mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$tmp" >"$mvn_log" 2>&1 9>&-; then
        show_log_tail "$mvn_log"
        rm -rf "$tmp"
        die "mvn could not fetch the Kafka jars (full log: $mvn_log)"
    fi
    [[ -f $tmp/$KAFKA_MAIN_JAR ]] || die "mvn finished but $KAFKA_MAIN_JAR is not in $tmp"
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
    log "kafka jars ready ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars)"
}

kafka_write_config() {
    [[ -f $KAFKA_TEMPLATE ]] || die "missing $KAFKA_TEMPLATE"
    sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
        -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
        -e "s|@LOG_DIRS@|$KAFKA_LOG_DIRS|g" \
        "$KAFKA_TEMPLATE" >"$KAFKA_PROPS.tmp"
    mv "$KAFKA_PROPS.tmp" "$KAFKA_PROPS"

    # Without a log4j config the broker logs nothing at all; everything goes to stdout,
    # which is .data/kafka/broker.log.
    cat >"$KAFKA_LOG4J" <<'EOF'
# Written by scripts/services on every start.
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.org.apache.kafka.clients=WARN
EOF
    # Command-line tools (StorageTool): warnings only, on stderr, so stdout stays parseable.
    cat >"$KAFKA_TOOLS_LOG4J" <<'EOF'
# Written by scripts/services on every start.
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

kafka_tool() {
    java -Dlog4j.configuration="file:$KAFKA_TOOLS_LOG4J" -cp "$KAFKA_LIBS/*" "$@" 9>&-
}

# The cluster id is made once and kept; if only the formatted log dir survived, reuse its id.
kafka_cluster_id() {
    local id=""
    [[ -s $KAFKA_CLUSTER_ID_FILE ]] && id=$(tr -d '[:space:]' <"$KAFKA_CLUSTER_ID_FILE")
    if [[ -z $id && -f $KAFKA_LOG_DIRS/meta.properties ]]; then
        id=$(sed -n 's/^cluster\.id=//p' "$KAFKA_LOG_DIRS/meta.properties" | tr -d '[:space:]')
    fi
    if [[ -z $id ]]; then
        id=$(kafka_tool kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1 | tr -d '[:space:]') ||
            die "kafka.tools.StorageTool random-uuid failed"
    fi
    [[ $id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "bad Kafka cluster id '$id' (from $KAFKA_CLUSTER_ID_FILE?)"
    echo "$id" >"$KAFKA_CLUSTER_ID_FILE"
    echo "$id"
}

kafka_format_storage() {
    local id out
    id=$(kafka_cluster_id) || exit 1
    [[ -f $KAFKA_LOG_DIRS/meta.properties ]] && return 0
    log "formatting Kafka storage in .data/kafka/logs (cluster id $id)"
    mkdir -p "$KAFKA_LOG_DIRS"
    if ! out=$(kafka_tool kafka.tools.StorageTool format -t "$id" -c "$KAFKA_PROPS" \
        --ignore-formatted 2>&1); then
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        die "kafka storage format failed"
    fi
}

# kafka_wait_ready PID: bounded wait until the broker answers; dies if it exits meanwhile.
kafka_wait_ready() {
    local pid=$1 start=$SECONDS
    while ! kafka_is_ready; do
        if ! is_our_kafka "$pid"; then
            rm -f "$KAFKA_PIDFILE"
            show_log_tail "$KAFKA_BROKER_LOG" 40
            die "kafka exited during startup (see $KAFKA_BROKER_LOG)"
        fi
        if ((SECONDS - start >= START_TIMEOUT)); then
            show_log_tail "$KAFKA_BROKER_LOG" 40
            die "kafka (pid $pid) did not become ready within ${START_TIMEOUT}s" \
                "(SENDGATE_SERVICE_TIMEOUT_S); it is left running: 'scripts/services stop kafka'"
        fi
        sleep 0.5
    done
}

kafka_start() {
    local pid start=$SECONDS
    if pid=$(kafka_pid); then
        kafka_check_running_ports "$pid"
        kafka_is_ready || log "kafka is running (pid $pid) but not ready yet; waiting"
        kafka_wait_ready "$pid"
        log "kafka already running (pid $pid) on $(kafka_addr)"
        return 0
    fi
    rm -f "$KAFKA_PIDFILE"
    tcp_open 127.0.0.1 "$KAFKA_PORT" && die_port_taken "$KAFKA_PORT" "Kafka client port" SENDGATE_KAFKA_PORT
    tcp_open 127.0.0.1 "$KAFKA_CONTROLLER_PORT" &&
        die_port_taken "$KAFKA_CONTROLLER_PORT" "Kafka controller port" SENDGATE_KAFKA_CONTROLLER_PORT

    ensure_java
    mkdir -p "$KAFKA_DIR"
    kafka_fetch_jars
    kafka_write_config
    kafka_format_storage

    # One log per run (the previous run's is kept as broker.log.1), so the readiness check
    # only ever sees this run's "Kafka Server started".
    [[ -f $KAFKA_BROKER_LOG ]] && mv -f "$KAFKA_BROKER_LOG" "$KAFKA_BROKER_LOG.1"
    : >"$KAFKA_BROKER_LOG"

    log "starting kafka $KAFKA_VERSION (KRaft) on $(kafka_addr), controller 127.0.0.1:$KAFKA_CONTROLLER_PORT"
    # setsid + nohup: the broker outlives this script and its terminal. The inner bash writes
    # its own pid and execs java, so the recorded pid is the JVM's. fd 9 (our lock) is closed.
    # shellcheck disable=SC2086,SC2016
    (
        cd "$KAFKA_DIR" || exit 1
        exec setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PIDFILE" \
            java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
            -Dlog4j.configuration="file:$KAFKA_LOG4J" -Dkafka.logs.dir="$KAFKA_DIR" \
            -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS" \
            </dev/null >>"$KAFKA_BROKER_LOG" 2>&1 9>&-
    ) &
    local waited=0
    pid=""
    while [[ -z $pid ]]; do
        [[ -s $KAFKA_PIDFILE ]] && pid=$(tr -dc '0-9' <"$KAFKA_PIDFILE")
        [[ -n $pid ]] && break
        ((waited++ < 100)) || die "kafka did not start (no pid after 10 s); see $KAFKA_BROKER_LOG"
        sleep 0.1
    done
    kafka_wait_ready "$pid"
    log "kafka ready on $(kafka_addr) (pid $pid, $((SECONDS - start))s)"
}

# wait_gone PID SECONDS CHECK_FN: true once CHECK_FN PID fails (process gone).
wait_gone() {
    local pid=$1 limit=$2 check=$3 start=$SECONDS
    while "$check" "$pid"; do
        ((SECONDS - start >= limit)) && return 1
        sleep 0.2
    done
}

kafka_stop() {
    local pid
    if ! pid=$(kafka_pid); then
        rm -f "$KAFKA_PIDFILE"
        log "kafka is not running"
        return 0
    fi
    log "stopping kafka (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$STOP_TIMEOUT" is_our_kafka; then
        warn "kafka (pid $pid) did not exit within ${STOP_TIMEOUT}s of SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 10 is_our_kafka || die "kafka (pid $pid) survived SIGKILL"
    fi
    rm -f "$KAFKA_PIDFILE"
    log "kafka stopped"
}

# kafka_status: one line; returns 0 if running and answering, 3 otherwise.
kafka_status() {
    local pid
    if pid=$(kafka_pid); then
        # Report the ports the running broker was started with.
        local listeners
        listeners=$(sed -n 's|^listeners=PLAINTEXT://127\.0\.0\.1:\([0-9]*\),.*|\1|p' "$KAFKA_PROPS" 2>/dev/null)
        KAFKA_PORT=${listeners:-$KAFKA_PORT}
        if kafka_api_versions_ok; then
            log "kafka     running   pid $pid  $(kafka_addr)"
            return 0
        fi
        log "kafka     starting  pid $pid  $(kafka_addr) (process up, not answering yet)"
        return 3
    fi
    log "kafka     stopped   -  $(kafka_addr)"
    return 3
}
