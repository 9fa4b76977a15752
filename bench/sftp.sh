#!/usr/bin/env bash
# SFTP throughput of lafsd next to OpenSSH's own sftp-server, on this machine, with the same
# OpenSSH `sftp` client and cipher (aes128-gcm@openssh.com):
#   bench/sftp.sh [ROUNDS]
# For each server: upload and download of one BIG_MIB file (default 1024) and of SMALL_N files of
# 4 KiB (default 1000). lafsd runs `lafsd run` (embedded store, TCP on 127.0.0.1); sshd is
# started here on a loopback port with its own config, host key and authorized_keys in a temp
# folder. Each client keeps one SSH master connection (ControlMaster), so MB/s measure the
# transfers, not sshd's per-connection setup. Rounds interleave the servers; the median counts.
# Prints MB/s (10^6 bytes/s), the lafsd/sshd ratios, lafsd's peak RSS (VmHWM) during each big
# upload and over all single-client runs, and the close latency of the big upload (lafsd's
# commit time for it, from its log). Then CONCURRENT clients
# (default 8), each with its own SSH connection, upload CONCURRENT_MIB (default 256) at once to
# each server, then SMALL_N small files each at once, then (lafsd restarted again) download
# CONCURRENT_MIB each at once: aggregate MB/s, the ratios, and lafsd's peak RSS during those runs
# (lafsd restarted before them, on the same store). Then MANY
# sessions (default 80, 10 on each of those connections) upload MANY_MIB (default 16) at once.
#
# Environment: LAFSD_MAIN (lafsd's compiled main.js; default: dist/, built with `npx tsc -b`),
# BIG_MIB, SMALL_N, CONCURRENT, CONCURRENT_MIB, MANY (0: skip), MANY_MIB, SSHD (default /usr/sbin/sshd),
# SFTP_SERVER (default /usr/lib/openssh/sftp-server).
set -euo pipefail

ROUNDS=${1:-3}
BIG_MIB=${BIG_MIB:-1024}
SMALL_N=${SMALL_N:-1000}
CONCURRENT=${CONCURRENT:-8}
CONCURRENT_MIB=${CONCURRENT_MIB:-256}
MANY=${MANY:-80}
MANY_MIB=${MANY_MIB:-16}
CIPHER=aes128-gcm@openssh.com
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib/sshd.sh
. "$REPO/bench/lib/sshd.sh"
# shellcheck source=bench/lib/machine.sh
. "$REPO/bench/lib/machine.sh"
# shellcheck source=bench/lib/common.sh
. "$REPO/bench/lib/common.sh"
MACHINE_AT_START=$(machine_state)

sftp_bench_prerequisites "$REPO"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lafsd-bench-sftp.XXXXXX")
LAFSD_PID=
SSHD_PID=
DOWN=
MADE_PRIVSEP=
cleanup() {
  for sock in "$TMP"/cm-*; do [ -S "$sock" ] && ssh -S "$sock" -O exit x 2>/dev/null || true; done
  [ -n "$LAFSD_PID" ] && kill "$LAFSD_PID" 2>/dev/null && wait "$LAFSD_PID" 2>/dev/null || true
  [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null || true
  [ -n "$MADE_PRIVSEP" ] && rmdir /run/sshd 2>/dev/null || true
  rm -rf "$TMP"
  [ -z "$DOWN" ] || rm -rf "$DOWN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- data -------------------------------------------------------------------------------------
echo "# preparing ${BIG_MIB} MiB and ${SMALL_N} × 4 KiB of random data in $TMP" >&2
mkdir -p "$TMP/data/small" "$TMP/down"
# AES-CTR keystream: random-looking, and much faster than /dev/urandom.
openssl enc -aes-128-ctr -nosalt -pass pass:lafsd-bench -pbkdf2 -in <(head -c "$((BIG_MIB * 1048576))" /dev/zero) -out "$TMP/data/big.bin" 2>/dev/null
BIG_SHA=$(sha256sum "$TMP/data/big.bin" | cut -d' ' -f1)
head -c "$((CONCURRENT_MIB * 1048576))" "$TMP/data/big.bin" >"$TMP/data/part.bin" 2>/dev/null || true
for i in $(seq -w 1 "$SMALL_N"); do head -c 4096 /dev/urandom >"$TMP/data/small/f$i"; done
[ "$MANY" -le $((CONCURRENT * 10)) ] || { echo "$0: MANY may be at most 10 × CONCURRENT (sessions per connection)" >&2; exit 2; }
mkdir -p "$TMP/data/many"
for i in $(seq "$MANY"); do # each its own data, so the store deduplicates none of it
  openssl enc -aes-128-ctr -nosalt -pass "pass:lafsd-many-$i" -pbkdf2 -in <(head -c "$((MANY_MIB * 1048576))" /dev/zero) -out "$TMP/data/many/m$i.bin" 2>/dev/null
done
BIG_BYTES=$((BIG_MIB * 1048576))
SMALL_BYTES=$((SMALL_N * 4096))
ssh-keygen -q -t ed25519 -N '' -f "$TMP/client_key"
SSH_OPTS=(-i "$TMP/client_key" -c "$CIPHER" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)

# --- lafsd ------------------------------------------------------------------------------------
LAFSD_PORT=$(free_port)
node "$LAFSD_MAIN" init "$TMP/node" --sftp-port "tcp:$LAFSD_PORT:interface=127.0.0.1" >/dev/null 2>&1
# FTP is not measured here: switch it off so its port cannot clash.
sed -i '/^\[ftpd\]/,/^\[/ s/^enabled = true/enabled = false/' "$TMP/node/tahoe.cfg"
# CONCURRENT clients, each on its own connection, plus the master: past the per-address default.
sed -i '/^\[auth\]/a max_connections_per_address = 0' "$TMP/node/tahoe.cfg"
node "$LAFSD_MAIN" add-user "$TMP/node" bench --pubkey "$TMP/client_key.pub" >/dev/null 2>&1
# The Node options the `lafsd` command runs with (its launch line), so the bench measures what users run.
# As the installed command starts it: the launch line's variables, node and its options.
LAUNCH_WORDS="$("$REPO/scripts/launch-args.sh" "$LAFSD_MAIN")"
read -r -a LAUNCH <<<"$LAUNCH_WORDS"
start_lafsd() {
  LAFSD_LOG_LEVEL=info env "${LAUNCH[@]}" "$LAFSD_MAIN" run "$TMP/node" >>"$TMP/lafsd.log" 2>&1 &
  LAFSD_PID=$!
}
wait_lafsd() { # the number of "ssh listening" lines to wait for (one per start)
  for _ in $(seq 100); do
    [ "$(grep -c '"msg":"ssh listening"' "$TMP/lafsd.log" 2>/dev/null)" -ge "$1" ] && return 0
    kill -0 "$LAFSD_PID" 2>/dev/null || { cat "$TMP/lafsd.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "lafsd did not start" >&2; cat "$TMP/lafsd.log" >&2; exit 1
}
start_lafsd

# --- sshd -------------------------------------------------------------------------------------
SSHD_PORT=$(free_port)
mkdir -p "$TMP/sshd-remote"
start_reference_sshd "$TMP/sshd" "$SSHD_PORT" "$TMP/client_key.pub" "$CIPHER"

wait_lafsd 1

# One master connection per server; every timed `sftp` rides on it.
master() { # name port user
  ssh "${SSH_OPTS[@]}" -M -S "$TMP/cm-$1" -f -N -p "$2" "$3@127.0.0.1"
}
master lafsd "$LAFSD_PORT" bench
master sshd "$SSHD_PORT" "$(id -un)"
run_sftp() { # name port user batchfile
  sftp "${SSH_OPTS[@]}" -o ControlPath="$TMP/cm-$1" -P "$2" -b "$4" "$3@127.0.0.1" >"$TMP/sftp.out" 2>&1 || { cat "$TMP/sftp.out" >&2; return 1; }
}

declare -A T
timed() { # key name port user remote-root batch-lines...
  local key=$1 name=$2 port=$3 user=$4 remote=$5
  shift 5
  printf '%s\n' "$@" | sed "s|@R|$remote|g; s|@L|$TMP|g" >"$TMP/batch"
  local t0 t1
  t0=$(now)
  run_sftp "$name" "$port" "$user" "$TMP/batch"
  t1=$(now)
  T[$key]="${T[$key]:-} $(echo "$t1 - $t0" | bc -l)"
}
untimed() { # name port user remote-root batch-lines...
  local name=$1 port=$2 user=$3 remote=$4
  shift 4
  printf '%s\n' "$@" | sed "s|@R|$remote|g; s|@L|$TMP|g" >"$TMP/batch"
  run_sftp "$name" "$port" "$user" "$TMP/batch"
}

# Peak RSS of one phase alone: VmHWM is reset before it ("5" to clear_refs, Linux >= 4.0) and
# read after it; PEAK_KIB keeps the highest mark seen across the resets.
PEAK_KIB=0
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$LAFSD_PID/status"; }
peak_so_far() { local h; h=$(hwm_kib); [ "$h" -le "$PEAK_KIB" ] || PEAK_KIB=$h; echo "$PEAK_KIB"; }
reset_hwm() { peak_so_far >/dev/null; echo 5 >"/proc/$LAFSD_PID/clear_refs"; }
UP_RSS_KIB=()

round() { # name port user remote-root
  local name=$1 port=$2 user=$3 remote=$4
  [ "$name" != lafsd ] || reset_hwm
  timed "$name.big.up" "$@" 'put @L/data/big.bin @R/big.bin'
  [ "$name" != lafsd ] || UP_RSS_KIB+=("$(hwm_kib)")
  timed "$name.big.down" "$@" 'get @R/big.bin @L/down/big.bin'
  [ "$(sha256sum "$TMP/down/big.bin" | cut -d' ' -f1)" = "$BIG_SHA" ] || { echo "$name: downloaded file differs" >&2; exit 1; }
  rm -f "$TMP/down/big.bin"
  timed "$name.small.up" "$@" 'put -r @L/data/small @R/small'
  timed "$name.small.down" "$@" 'get -r @R/small @L/down/small'
  [ "$(ls "$TMP/down/small" | wc -l)" = "$SMALL_N" ] || { echo "$name: small files missing" >&2; exit 1; }
  diff -r "$TMP/data/small" "$TMP/down/small" >/dev/null || { echo "$name: small files differ" >&2; exit 1; }
  rm -rf "$TMP/down/small"
  # Start the next round from an empty remote folder.
  untimed "$@" 'rm @R/big.bin' 'rm @R/small/*' 'rmdir @R/small'
}

for r in $(seq "$ROUNDS"); do
  echo "# round $r/$ROUNDS" >&2
  if [ $((r % 2)) = 1 ]; then
    round lafsd "$LAFSD_PORT" bench ""
    round sshd "$SSHD_PORT" "$(id -un)" "$TMP/sshd-remote"
  else
    round sshd "$SSHD_PORT" "$(id -un)" "$TMP/sshd-remote"
    round lafsd "$LAFSD_PORT" bench ""
  fi
done

RSS_KIB=$(peak_so_far)
# Close latency: lafsd logs each commit with its duration; the big file's are the big uploads.
CLOSE_MS=$(grep '"op":"commit"' "$TMP/lafsd.log" | grep "\"bytes\":$BIG_BYTES," | grep -o '"ms":[0-9]*' | cut -d: -f2 | tr '\n' ' ' | median)

# --- CONCURRENT clients at once, each on its own SSH connection ---------------------------------
# They run against a freshly started `lafsd run` on the same store: the row measures what 8
# clients cost, as sshd's fresh sftp-server processes do, not what glibc kept mapped after the
# runs above (freed chunks it does not return). That level is printed too.
RSS_LEFT_KIB=$(awk '/^VmRSS:/ {print $2}' "/proc/$LAFSD_PID/status")
STARTS=1
restart_lafsd() { # closes lafsd's master connections, restarts it, opens its main master again
  local sock
  for sock in "$TMP"/cm-lafsd*; do [ -S "$sock" ] && ssh -S "$sock" -O exit x 2>/dev/null || true; done
  kill "$LAFSD_PID" && wait "$LAFSD_PID" 2>/dev/null || true
  start_lafsd
  STARTS=$((STARTS + 1))
  wait_lafsd "$STARTS"
  master lafsd "$LAFSD_PORT" bench
}
restart_lafsd
# Every client gets its own master connection first, so the timing is the transfers, not
# sshd's per-connection start-up (0.8 s of CPU each here).
for i in $(seq "$CONCURRENT"); do
  master "lafsd-c$i" "$LAFSD_PORT" bench
  master "sshd-c$i" "$SSHD_PORT" "$(id -un)"
done
# kind big: CONCURRENT_MIB each; stage: the same, untimed and kept for kind down, which
# downloads them; small: SMALL_N files each; many: MANY sessions of MANY_MIB each,
# spread over the CONCURRENT connections (10 on each by default, sshd's and lafsd's limit).
concurrent() { # kind(big|stage|down|small|many) name port user remote-root
  local kind=$1 name=$2 port=$3 user=$4 remote=$5 t0 t1 i n=$CONCURRENT pids=() rms=()
  [ "$kind" != many ] || n=$MANY
  t0=$(now)
  for i in $(seq "$n"); do
    case $kind in
      big) printf 'put %s %s\n' "$TMP/data/part.bin" "$remote/c$i.bin"; rms+=("rm @R/c$i.bin") ;;
      stage) printf 'put %s %s\n' "$TMP/data/part.bin" "$remote/c$i.bin" ;;
      down) printf 'get %s %s\n' "$remote/c$i.bin" "$DOWN/c$i.bin" ;;
      small) printf 'put -r %s %s\n' "$TMP/data/small" "$remote/s$i"; rms+=("rm @R/s$i/*" "rmdir @R/s$i") ;;
      many) printf 'put %s %s\n' "$TMP/data/many/m$i.bin" "$remote/m$i.bin"; rms+=("rm @R/m$i.bin") ;;
    esac >"$TMP/cbatch-$i"
    sftp "${SSH_OPTS[@]}" -o ControlPath="$TMP/cm-$name-c$(( (i - 1) % CONCURRENT + 1 ))" -P "$port" -b "$TMP/cbatch-$i" "$user@127.0.0.1" >"$TMP/c$i.out" 2>&1 &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || { echo "$name: a concurrent transfer failed" >&2; cat "$TMP"/c*.out >&2; exit 1; }; done
  t1=$(now)
  [ "$kind" = stage ] || T[$name.concurrent.$kind]="${T[$name.concurrent.$kind]:-} $(echo "$t1 - $t0" | bc -l)"
  if [ "$kind" = down ]; then
    for i in $(seq "$n"); do cmp -s "$TMP/data/part.bin" "$DOWN/c$i.bin" || { echo "$name: concurrent download $i differs" >&2; exit 1; }; done
    rm -f "$DOWN"/c*.bin
  fi
  [ ${#rms[@]} -eq 0 ] || untimed "$name" "$port" "$user" "$remote" "${rms[@]}"
}
# ROUNDS of one kind on both servers, each lafsd round's peak RSS alone (VmHWM reset before it)
# appended to PEAKS.
both_rounds() { # kind what
  local r
  for r in $(seq "$ROUNDS"); do
    echo "# $2 round $r/$ROUNDS" >&2
    reset_hwm
    concurrent "$1" lafsd "$LAFSD_PORT" bench ""
    PEAKS+=("$(hwm_kib)")
    concurrent "$1" sshd "$SSHD_PORT" "$(id -un)" "$TMP/sshd-remote"
  done
}
# A fresh `lafsd run` with its clients' master connections open again.
fresh_lafsd() {
  local i
  restart_lafsd
  for i in $(seq "$CONCURRENT"); do master "lafsd-c$i" "$LAFSD_PORT" bench; done
}
# Peak RSS of each lafsd round alone (VmHWM reset before it), and the highest over all of them.
PEAK_KIB=0
C_BIG_RSS_KIB=()
C_SMALL_RSS_KIB=()
for r in $(seq "$ROUNDS"); do
  echo "# concurrent round $r/$ROUNDS" >&2
  reset_hwm
  concurrent big lafsd "$LAFSD_PORT" bench ""
  C_BIG_RSS_KIB+=("$(hwm_kib)")
  concurrent big sshd "$SSHD_PORT" "$(id -un)" "$TMP/sshd-remote"
  concurrent small sshd "$SSHD_PORT" "$(id -un)" "$TMP/sshd-remote"
  reset_hwm
  concurrent small lafsd "$LAFSD_PORT" bench ""
  C_SMALL_RSS_KIB+=("$(hwm_kib)")
done
RSS_CONCURRENT_KIB=$(peak_so_far)

# --- CONCURRENT clients downloading at once --------------------------------------------------
# Each client's file is put there first (untimed); then lafsd restarts, so the row shows what 8
# downloads cost from a fresh `lafsd run`, and the rows above stay as they were measured before
# this one existed. The downloads land in tmpfs where there is one, so the client's disk does
# not bound them, and are checked byte for byte.
DOWN=$TMP/cdown
[ -d /dev/shm ] && DOWN=$(mktemp -d /dev/shm/lafsd-bench-sftp.XXXXXX)
mkdir -p "$DOWN"
concurrent stage lafsd "$LAFSD_PORT" bench ""
concurrent stage sshd "$SSHD_PORT" "$(id -un)" "$TMP/sshd-remote"
fresh_lafsd
PEAKS=()
both_rounds down "concurrent download"
C_DOWN_RSS_KIB=("${PEAKS[@]}")
CLEANUP_RMS=()
for i in $(seq "$CONCURRENT"); do CLEANUP_RMS+=("rm @R/c$i.bin"); done
untimed lafsd "$LAFSD_PORT" bench "" "${CLEANUP_RMS[@]}"
untimed sshd "$SSHD_PORT" "$(id -un)" "$TMP/sshd-remote" "${CLEANUP_RMS[@]}"

# --- MANY sessions at once -------------------------------------------------------------------
# Again from a fresh `lafsd run`, so the row shows what MANY sessions cost, not what the rounds
# above left mapped.
MANY_RSS_KIB=()
if [ "$MANY" -gt 0 ]; then
  fresh_lafsd
  PEAKS=()
  both_rounds many "$MANY-session"
  MANY_RSS_KIB=("${PEAKS[@]}")
fi

echo
echo "SFTP, OpenSSH $(ssh -V 2>&1 | cut -d, -f1 | cut -d_ -f2) client, $CIPHER, median of $ROUNDS rounds (interleaved); MB/s = 10^6 bytes/s"
echo "lafsd: \`lafsd run\` over TCP (ssh2), embedded store in $TMP (fsyncs each commit); sshd: $SSHD + $SFTP_SERVER writing to plain files"
echo "machine before the bench: $MACHINE_AT_START"
printf '%-26s %12s %12s %10s\n' transfer 'lafsd MB/s' 'sshd MB/s' 'lafsd/sshd'
# One row: the median times of key (lafsd's and sshd's) for `bytes`, as MB/s and their ratio;
# `more` goes after the two times in the brackets.
row() { # key bytes label [more]
  local tl ts ml ms
  tl=$(echo "${T[lafsd.$1]}" | median)
  ts=$(echo "${T[sshd.$1]}" | median)
  ml=$(echo "$2 / $tl / 1000000" | bc -l)
  ms=$(echo "$2 / $ts / 1000000" | bc -l)
  printf '%-26s %12.1f %12.1f %10.2f   (%.2f s vs %.2f s%s)\n' "$3" "$ml" "$ms" "$(echo "$ml / $ms" | bc -l)" "$tl" "$ts" "${4:-}"
}
# Median of peaks in KiB, in MiB.
median_mib() { echo $(( $(printf '%s\n' "$@" | median) / 1024 )); }
for op in big.up big.down small.up small.down; do
  case $op in
    big.*) bytes=$BIG_BYTES; label="${BIG_MIB} MiB file" ;;
    small.*) bytes=$SMALL_BYTES; label="${SMALL_N} × 4 KiB files" ;;
  esac
  case $op in *.up) label="$label up" ;; *) label="$label down" ;; esac
  row "$op" "$bytes" "$label"
done
echo "close latency of a ${BIG_MIB} MiB upload (lafsd's commit, median): ${CLOSE_MS} ms"
mib_list() { local k out=""; for k in "$@"; do out="$out $((k / 1024))"; done; echo "${out# }"; }
echo "lafsd peak RSS (VmHWM) during a ${BIG_MIB} MiB upload, by round: $(mib_list "${UP_RSS_KIB[@]}") MiB (the first round's process had served nothing else yet)"
echo "lafsd peak RSS (VmHWM) over the runs above: $((RSS_KIB / 1024)) MiB; RSS at their end: $((RSS_LEFT_KIB / 1024)) MiB (the process was then restarted)"
CBYTES=$((CONCURRENT * CONCURRENT_MIB * 1048576))
row concurrent.big "$CBYTES" "$CONCURRENT clients x ${CONCURRENT_MIB} MiB up" "; each client its own SSH connection, set up beforehand"
row concurrent.down "$CBYTES" "$CONCURRENT clients x ${CONCURRENT_MIB} MiB down" "; each client its own file, on its own connection"
row concurrent.small "$((CONCURRENT * SMALL_BYTES))" "$CONCURRENT clients x ${SMALL_N} × 4 KiB up" ": $((CONCURRENT * SMALL_N)) files"
echo "lafsd peak RSS (VmHWM) during the $CONCURRENT-client runs (a fresh \`lafsd run\`, same store), by round: ${CONCURRENT_MIB} MiB uploads $(mib_list "${C_BIG_RSS_KIB[@]}") MiB (median $(median_mib "${C_BIG_RSS_KIB[@]}")), small files $(mib_list "${C_SMALL_RSS_KIB[@]}") MiB; over all of them: $((RSS_CONCURRENT_KIB / 1024)) MiB"
echo "lafsd peak RSS (VmHWM) during the $CONCURRENT downloads at once (a fresh \`lafsd run\`), by round: $(mib_list "${C_DOWN_RSS_KIB[@]}") MiB (median $(median_mib "${C_DOWN_RSS_KIB[@]}"))"
if [ "$MANY" -gt 0 ]; then
  row concurrent.many "$((MANY * MANY_MIB * 1048576))" "$MANY sessions x ${MANY_MIB} MiB up" "; $(( (MANY + CONCURRENT - 1) / CONCURRENT )) sessions on each of the $CONCURRENT connections"
  echo "lafsd peak RSS (VmHWM) during the $MANY-session uploads, by round: $(mib_list "${MANY_RSS_KIB[@]}") MiB (median $(median_mib "${MANY_RSS_KIB[@]}"))"
fi
