# shellcheck shell=bash
# Helpers shared by scripts/services. Sourced, never executed.

log() { printf 'services: %s\n' "$*"; }
warn() { printf 'services: warning: %s\n' "$*" >&2; }
err() { printf 'services: error: %s\n' "$*" >&2; }
die() {
    err "$*"
    exit 1
}

# require_uint NAME VALUE: VALUE must be a positive integer (used for env overrides).
require_uint() {
    [[ $2 =~ ^[0-9]+$ && $2 -gt 0 ]] || die "$1 must be a positive integer, got '$2'"
}

# tcp_open HOST PORT: true if something accepts a TCP connection there (2 s cap).
tcp_open() {
    # shellcheck disable=SC2016  # $0/$1 expand in the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# port_owner PORT: "name (pid N)" of the local listener on PORT, if ss can tell; else empty.
port_owner() {
    command -v ss >/dev/null 2>&1 || return 0
    ss -Hltnp "sport = :$1" 2>/dev/null |
        sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p' | head -n 1
}

# die_port_taken PORT WHAT HINT: the port we need is used by a process that is not ours.
die_port_taken() {
    local owner
    owner=$(port_owner "$1")
    die "127.0.0.1:$1 ($2) is already in use by ${owner:-another process}, not by sendgate's" \
        "own service; stop that process or choose another port with $3"
}

# cmdline_of PID: the process's command line with NULs turned into spaces ("" if gone/zombie).
cmdline_of() {
    [[ -r /proc/$1/cmdline ]] || return 0
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true
}

# show_log_tail FILE [N]: last N (40) lines of FILE on stderr, indented.
show_log_tail() {
    local file=$1 n=${2:-40}
    if [[ -s $file ]]; then
        printf 'services: ---- last %s lines of %s ----\n' "$n" "$file" >&2
        tail -n "$n" "$file" | sed 's/^/    /' >&2
        printf 'services: ---- end of %s ----\n' "$file" >&2
    else
        printf 'services: (%s is empty or missing)\n' "$file" >&2
    fi
}

# apt_install PKG...: install Debian packages non-interactively (fresh CI machines).
apt_install() {
    command -v apt-get >/dev/null 2>&1 ||
        die "missing $*; this machine has no apt-get, install it by hand"
    local -a sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || die "missing $*; run as root or install it by hand"
        sudo=(sudo)
    fi
    log "installing $* with apt-get (one time)"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null ||
        die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "$@" >/dev/null ||
        die "apt-get install $* failed"
}

ensure_java() {
    command -v java >/dev/null 2>&1 && return 0
    apt_install openjdk-17-jre-headless
    command -v java >/dev/null 2>&1 || die "java still not found after installing openjdk-17-jre-headless"
}

ensure_mvn() {
    command -v mvn >/dev/null 2>&1 && return 0
    ensure_java
    apt_install maven
    command -v mvn >/dev/null 2>&1 || die "mvn still not found after installing maven"
}
