#!/usr/bin/env bash
# Bring up a real single-node SLURM cluster on this (Debian) machine, for tests.
#
#   sudo tests/slurm/start_slurm.sh
#
# - installs slurm-wlm + munge from Debian's apt repositories if missing
# - creates a munge key if missing and starts munged
# - writes /etc/slurm/slurm.conf (default path on purpose: job steps do not
#   keep SLURM_CONF) for one node (this host) and one partition "debug"
# - starts slurmctld and slurmd directly (no systemd needed) and waits until
#   the node is idle
#
# Idempotent: when the daemons already run with the same config and the node
# is usable, it only re-checks. Stop with tests/slurm/stop_slurm.sh.
#
# Environment knobs:
#   SLURM_START_TIMEOUT   seconds to wait for the node to become idle (60)
#   SLURM_FORCE_RESTART=1 restart the daemons even if the config is unchanged
#   SLURM_SKIP_SMOKE=1    skip the final `srun hostname` smoke test
set -euo pipefail

START_TS=$(date +%s.%N)
TIMEOUT=${SLURM_START_TIMEOUT:-60}

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
CGROUP_CONF=$CONF_DIR/cgroup.conf
LOG_DIR=/var/log/slurm
CTLD_LOG=$LOG_DIR/slurmctld.log
SLURMD_LOG=$LOG_DIR/slurmd.log
STATE_DIR=/var/spool/slurmctld
SPOOL_DIR=/var/spool/slurmd
RUN_DIR=/run/slurm
CTLD_PID=$RUN_DIR/slurmctld.pid
SLURMD_PID=$RUN_DIR/slurmd.pid
CLUSTER=eegfit-test
PARTITION=debug

log() { printf '[start_slurm] %s\n' "$*" >&2; }
die() {
    printf '[start_slurm] ERROR: %s\n' "$*" >&2
    exit 1
}
elapsed() { awk -v s="$START_TS" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}'; }
dump_logs() {
    for f in "$CTLD_LOG" "$SLURMD_LOG" /var/log/munge/munged.log; do
        if [[ -f $f ]]; then
            printf '\n----- last 30 lines of %s -----\n' "$f" >&2
            tail -n 30 "$f" >&2 || true
        fi
    done
}

# pid_alive PIDFILE NAME -> 0 if the pid in PIDFILE is a live process called NAME
pid_alive() {
    local pidfile=$1 name=$2 pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]]
}

# ---------------------------------------------------------------- preflight
[[ $(id -u) -eq 0 ]] || die "must run as root (try: sudo $0)"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script needs a Debian/Ubuntu machine"

# ---------------------------------------------------------------- packages
export DEBIAN_FRONTEND=noninteractive
need_pkgs=()
for p in slurm-wlm munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if ((${#need_pkgs[@]})); then
    log "installing ${need_pkgs[*]} via apt-get"
    # apt-get update only when the package is unknown to apt (no lists yet)
    if ! apt-cache show slurm-wlm >/dev/null 2>&1 || ! apt-cache show munge >/dev/null 2>&1 ||
        [[ -z "$(apt-cache policy slurm-wlm 2>/dev/null | awk '/Candidate:/{print $2}' | grep -v '(none)')" ]]; then
        log "apt-get update"
        apt-get update -qq || die "apt-get update failed"
    fi
    if ! apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        slurm-wlm munge >/tmp/start_slurm.apt.log 2>&1; then
        # stale lists can give 404s: update once and retry
        log "apt-get install failed, retrying after apt-get update"
        apt-get update -qq || true
        apt-get install -y -qq --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            slurm-wlm munge >/tmp/start_slurm.apt.log 2>&1 ||
            { tail -n 40 /tmp/start_slurm.apt.log >&2; die "apt-get install slurm-wlm munge failed"; }
    fi
fi
for b in slurmctld slurmd munged sinfo scontrol sbatch srun squeue; do
    command -v "$b" >/dev/null 2>&1 || die "$b not found after installing slurm-wlm/munge"
done
# (sinfo --version needs a slurm.conf, so ask dpkg)
SLURM_VERSION=$(dpkg-query -W -f='${Version}' slurm-wlm 2>/dev/null || true)
log "slurm version: ${SLURM_VERSION:-unknown}"

# ---------------------------------------------------------------- munge
getent passwd munge >/dev/null || die "user 'munge' missing (munge package broken?)"
install -d -m 0700 -o munge -g munge /etc/munge
install -d -m 0700 -o munge -g munge /var/lib/munge
install -d -m 0700 -o munge -g munge /var/log/munge
install -d -m 0755 -o munge -g munge /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating munge key"
    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
    log "starting munged"
    # a stale pid/socket from a killed munged makes it refuse to start
    if [[ -s /run/munge/munged.pid ]] && ! kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; then
        rm -f /run/munge/munged.pid
    fi
    runuser -u munge -- /usr/sbin/munged --force ||
        { dump_logs; die "munged failed to start"; }
    for _ in $(seq 50); do
        munge_ok && break
        sleep 0.2
    done
    munge_ok || { dump_logs; die "munge does not work (munge -n | unmunge failed)"; }
fi

# ---------------------------------------------------------------- slurm.conf
NODE=$(hostname -s)
[[ -n $NODE ]] || die "hostname -s is empty"
# the control host must resolve; fall back to 127.0.0.1 as explicit address
NODE_ADDR=127.0.0.1
if getent hosts "$NODE" >/dev/null 2>&1; then
    NODE_ADDR=$(getent hosts "$NODE" | awk '{print $1; exit}')
fi

# hardware as slurmd sees it (CPUs/Boards/Sockets/Cores/Threads); drop its
# RealMemory and use ~90% of the currently available memory instead.
HW=$(slurmd -C 2>/dev/null | head -n1 | tr ' ' '\n' |
    grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ' || true)
if [[ ! $HW =~ CPUs= ]]; then
    HW="CPUs=$(nproc)"
fi
CPUS=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$HW")
AVAIL_MB=$(awk '/^MemAvailable:/{print int($2/1024)}' /proc/meminfo)
[[ -n $AVAIL_MB && $AVAIL_MB -gt 0 ]] || AVAIL_MB=$(awk '/^MemTotal:/{print int($2/1024)}' /proc/meminfo)
REAL_MB=$((AVAIL_MB * 9 / 10))
((REAL_MB >= 256)) || REAL_MB=256
DEF_MEM_PER_CPU=$((REAL_MB / CPUS))

install -d -m 0755 "$CONF_DIR" "$LOG_DIR" "$RUN_DIR"
install -d -m 0700 "$STATE_DIR"
install -d -m 0755 "$SPOOL_DIR"

NEW_CONF=$(mktemp)
trap 'rm -f "$NEW_CONF"' EXIT
cat >"$NEW_CONF" <<EOF
# Generated by tests/slurm/start_slurm.sh -- single-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$NODE($NODE_ADDR)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
SlurmctldPort=6817
SlurmdPort=6818
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$CTLD_LOG
SlurmdLogFile=$SLURMD_LOG
SlurmctldDebug=info
SlurmdDebug=info
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
# no cgroups anywhere (containers / gVisor / no systemd)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$DEF_MEM_PER_CPU
# keep finished jobs visible to squeue for an hour (snakemake squeue status)
MinJobAge=3600
ReturnToService=2
SlurmdTimeout=300
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=$NODE NodeAddr=$NODE_ADDR $HW RealMemory=$REAL_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

NEW_CGROUP=$(mktemp)
trap 'rm -f "$NEW_CONF" "$NEW_CGROUP"' EXIT
# only read if some cgroup plugin is loaded; keep it harmless
cat >"$NEW_CGROUP" <<EOF
# Generated by tests/slurm/start_slurm.sh -- cgroups are not used.
ConstrainCores=no
ConstrainRAMSpace=no
ConstrainSwapSpace=no
ConstrainDevices=no
EOF

conf_changed=0
# RealMemory varies a bit between runs: compare without it
strip_mem() { sed -e 's/RealMemory=[0-9]*//' -e 's/DefMemPerCPU=[0-9]*//' "$1" 2>/dev/null; }
if [[ ! -f $CONF ]] || [[ "$(strip_mem "$CONF")" != "$(strip_mem "$NEW_CONF")" ]]; then
    conf_changed=1
    [[ -f $CONF ]] && ! grep -q 'Generated by tests/slurm/start_slurm.sh' "$CONF" &&
        cp -a "$CONF" "$CONF.bak.$(date +%s)"
    install -m 0644 "$NEW_CONF" "$CONF"
    log "wrote $CONF"
fi
cmp -s "$NEW_CGROUP" "$CGROUP_CONF" 2>/dev/null || install -m 0644 "$NEW_CGROUP" "$CGROUP_CONF"
unset SLURM_CONF # everything uses the default path

# ---------------------------------------------------------------- daemons
stop_daemon() { # PIDFILE NAME
    local pidfile=$1 name=$2 pid
    if pid_alive "$pidfile" "$name"; then
        pid=$(<"$pidfile")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

if [[ $conf_changed == 1 || ${SLURM_FORCE_RESTART:-0} == 1 ]]; then
    stop_daemon "$SLURMD_PID" slurmd
    stop_daemon "$CTLD_PID" slurmctld
fi

if ! pid_alive "$CTLD_PID" slurmctld; then
    log "starting slurmctld"
    # -i: ignore unreadable state files from an older run
    slurmctld -i || { dump_logs; die "slurmctld failed to start"; }
fi
for _ in $(seq $((TIMEOUT * 2))); do
    scontrol ping 2>/dev/null | grep -q 'is UP' && break
    sleep 0.5
done
scontrol ping 2>/dev/null | grep -q 'is UP' || { dump_logs; die "slurmctld did not answer 'scontrol ping' within ${TIMEOUT}s"; }

if ! pid_alive "$SLURMD_PID" slurmd; then
    log "starting slurmd"
    slurmd -N "$NODE" || { dump_logs; die "slurmd failed to start"; }
fi

# ---------------------------------------------------------------- wait for idle
node_state() { sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n1; }
deadline=$(($(date +%s) + TIMEOUT))
state=""
resumed=0
while :; do
    state=$(node_state)
    case $state in
    idle | mixed | allocated | completing | idle+* ) break ;;
    down* | drain* | drained* | fail*)
        if ((resumed < 3)) && pid_alive "$SLURMD_PID" slurmd; then
            log "node $NODE is '$state' -> scontrol update state=resume"
            scontrol update nodename="$NODE" state=resume 2>/dev/null ||
                scontrol update nodename="$NODE" state=idle 2>/dev/null || true
            resumed=$((resumed + 1))
        fi
        ;;
    esac
    if ! pid_alive "$SLURMD_PID" slurmd; then
        dump_logs
        die "slurmd is not running"
    fi
    if (($(date +%s) >= deadline)); then
        sinfo -N -l >&2 || true
        scontrol show node "$NODE" >&2 || true
        dump_logs
        die "node $NODE not idle after ${TIMEOUT}s (state: '${state:-unknown}')"
    fi
    sleep 0.5
done
log "node $NODE is $state"

# ---------------------------------------------------------------- smoke test
if [[ ${SLURM_SKIP_SMOKE:-0} != 1 ]]; then
    out=$(timeout 60 srun -p "$PARTITION" -N1 -n1 --mem=10 -t 1 hostname 2>&1) ||
        { echo "$out" >&2; dump_logs; die "smoke test 'srun hostname' failed"; }
    log "srun hostname -> $out"
fi

sinfo
log "SLURM cluster '$CLUSTER' is up (took $(elapsed)s)"
