#!/usr/bin/env bash
# Stop the single-node test cluster started by tests/slurm/start_slurm.sh.
# Idempotent: does nothing when the daemons are not running.
#
#   STOP_MUNGE=1 tests/slurm/stop_slurm.sh   # also stop munged
#   CLEAN_STATE=1 tests/slurm/stop_slurm.sh  # also wipe slurmctld/slurmd state (job records)
set -uo pipefail

RUN_DIR=/run/slurm
log() { printf '[stop_slurm] %s\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
    printf '[stop_slurm] ERROR: must run as root\n' >&2
    exit 1
fi

# stop PIDFILE NAME: SIGTERM, wait up to 10 s, then SIGKILL. Only the process
# recorded in PIDFILE (and only if its name matches) is touched; if there is
# no pid file, fall back to exact-name matching of the daemon binary.
stop() {
    local pidfile=$1 name=$2 pids="" pid
    if [[ -s $pidfile ]]; then
        pid=$(<"$pidfile")
        if [[ $pid =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]]; then
            pids=$pid
        fi
    fi
    if [[ -z $pids ]]; then
        pids=$(pgrep -x "$name" 2>/dev/null | tr '\n' ' ')
    fi
    if [[ -z ${pids// /} ]]; then
        rm -f "$pidfile"
        return 0
    fi
    log "stopping $name ($pids)"
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
    for _ in $(seq 50); do
        local alive=0
        for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.2
    done
    for pid in $pids; do
        if kill -0 "$pid" 2>/dev/null; then
            log "$name ($pid) ignored SIGTERM, sending SIGKILL"
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    rm -f "$pidfile"
}

# slurmstepd processes of still-running jobs would outlive slurmd; cancel jobs first
if command -v scontrol >/dev/null 2>&1 && scontrol ping 2>/dev/null | grep -q 'is UP'; then
    scancel --state=RUNNING 2>/dev/null || true
    scancel --state=PENDING 2>/dev/null || true
fi

stop "$RUN_DIR/slurmd.pid" slurmd
stop "$RUN_DIR/slurmctld.pid" slurmctld

if [[ ${CLEAN_STATE:-0} == 1 ]]; then
    log "wiping /var/spool/slurmctld and /var/spool/slurmd"
    rm -rf /var/spool/slurmctld/* /var/spool/slurmd/*
fi

if [[ ${STOP_MUNGE:-0} == 1 ]]; then
    stop /run/munge/munged.pid munged
fi

log "stopped"
exit 0
