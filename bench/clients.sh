#!/usr/bin/env bash
# The SFTP clients people use, each against lafsd and against OpenSSH's sshd + sftp-server, on
# loopback: one file up and down with
#   - sshfs (cp into and out of the mount; mounted again between the two, so the download
#     crosses the wire and not the kernel's page cache),
#   - rclone (its sftp backend, hash checks off: on sshd they run md5sum over SSH after each
#     upload, which lafsd does not offer, and would time a second read of the file),
#   - lftp (sftp://, through ssh),
#   - paramiko (SFTPClient.put and get, from Python; pure Python, so it gets a smaller file).
#
#   bench/clients.sh [ROUNDS]        # default 3; needs root (sshd), sshfs + /dev/fuse, rclone,
#                                    # lftp, python3 with paramiko: a missing client is skipped
#
# bench/sftp.sh measures OpenSSH's own `sftp`; this bench looks for what that one misses: a
# client whose request pattern (sshfs's 64 KiB writes from the kernel, rclone's concurrent
# requests, lftp's and paramiko's own pipelining) lafsd serves worse than sshd does. Downloads go
# to /dev/null (paramiko's, which wants a file, to tmpfs); every uploaded file is fetched once
# more at the end with OpenSSH `sftp` and compared byte for byte. lafsd runs as the `lafsd`
# command starts it, on its embedded store under TMPDIR (fsyncs each commit), like bench/sftp.sh;
# sshd writes plain files in the same folder. Each client keeps its own default cipher, the same
# with both servers (here: sshfs and lftp, through OpenSSH, chacha20-poly1305; rclone
# aes128-gcm; paramiko aes128-ctr with hmac-sha2-256). Rounds interleave the servers; the median
# counts.
#
# Environment: LAFSD_MAIN (default: dist/, built with `npx tsc -b`), SIZE_MIB (default 512),
# PARAMIKO_MIB (default 64), SSHD, SFTP_SERVER (bench/lib/sshd.sh).
set -euo pipefail

ROUNDS=${1:-3}
SIZE_MIB=${SIZE_MIB:-512}
PARAMIKO_MIB=${PARAMIKO_MIB:-64}
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib/sshd.sh
. "$REPO/bench/lib/sshd.sh"
# shellcheck source=bench/lib/machine.sh
. "$REPO/bench/lib/machine.sh"
# shellcheck source=bench/lib/common.sh
. "$REPO/bench/lib/common.sh"
MACHINE_AT_START=$(machine_state)

[ "$(id -u)" = 0 ] || { echo "$0: sshd needs root" >&2; exit 2; }
sftp_bench_prerequisites "$REPO"

# Which clients can run here.
CLIENTS=()
if command -v sshfs >/dev/null && command -v fusermount3 >/dev/null && [ -c /dev/fuse ]; then CLIENTS+=(sshfs); else echo "# sshfs (or /dev/fuse) missing: skipped" >&2; fi
if command -v rclone >/dev/null; then CLIENTS+=(rclone); else echo "# rclone missing: skipped" >&2; fi
if command -v lftp >/dev/null; then CLIENTS+=(lftp); else echo "# lftp missing: skipped" >&2; fi
PYTHON=
for py in /usr/bin/python3 python3; do
  if command -v "$py" >/dev/null && "$py" -c 'import paramiko' 2>/dev/null; then PYTHON=$(command -v "$py"); break; fi
done
if [ -n "$PYTHON" ]; then CLIENTS+=(paramiko); else echo "# python3 with paramiko missing: skipped" >&2; fi
[ ${#CLIENTS[@]} -gt 0 ] || { echo "$0: none of sshfs, rclone, lftp, paramiko is installed" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lafsd-bench-clients.XXXXXX")
DATA=$TMP/data
[ -d /dev/shm ] && [ -w /dev/shm ] && DATA=$(mktemp -d /dev/shm/lafsd-bench-clients.XXXXXX)
LAFSD_PID=
SSHD_PID=
MADE_PRIVSEP=
cleanup() {
  for m in "$TMP"/mnt-*; do mountpoint -q "$m" 2>/dev/null && fusermount3 -u "$m" 2>/dev/null; done
  [ -n "$LAFSD_PID" ] && kill "$LAFSD_PID" 2>/dev/null && wait "$LAFSD_PID" 2>/dev/null || true
  [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null || true
  [ -n "$MADE_PRIVSEP" ] && rmdir /run/sshd 2>/dev/null || true
  rm -rf "$TMP" "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- data -------------------------------------------------------------------------------------
echo "# preparing ${SIZE_MIB} MiB and ${PARAMIKO_MIB} MiB of random data in $DATA" >&2
mkdir -p "$DATA" "$TMP/sshd-remote"
# AES-CTR keystream: random-looking, and much faster than /dev/urandom.
openssl enc -aes-128-ctr -nosalt -pass pass:lafsd-clients -pbkdf2 -in <(head -c "$((SIZE_MIB * 1048576))" /dev/zero) -out "$DATA/big.bin" 2>/dev/null
openssl enc -aes-128-ctr -nosalt -pass pass:lafsd-paramiko -pbkdf2 -in <(head -c "$((PARAMIKO_MIB * 1048576))" /dev/zero) -out "$DATA/py.bin" 2>/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$TMP/client_key"
KEY=$TMP/client_key
SSH_OPTS=(-i "$KEY" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)

# --- servers ----------------------------------------------------------------------------------
LAFSD_PORT=$(free_port)
node "$LAFSD_MAIN" init "$TMP/node" --sftp-port "tcp:$LAFSD_PORT:interface=127.0.0.1" >/dev/null 2>&1
sed -i '/^\[ftpd\]/,/^\[/ s/^enabled = true/enabled = false/' "$TMP/node/tahoe.cfg"
node "$LAFSD_MAIN" add-user "$TMP/node" bench --pubkey "$KEY.pub" >/dev/null 2>&1
read -r -a LAUNCH <<<"$("$REPO/scripts/launch-args.sh" "$LAFSD_MAIN")"
LAFSD_LOG_LEVEL=info env "${LAUNCH[@]}" "$LAFSD_MAIN" run "$TMP/node" >"$TMP/lafsd.log" 2>&1 &
LAFSD_PID=$!
SSHD_PORT=$(free_port)
start_reference_sshd "$TMP/sshd" "$SSHD_PORT" "$KEY.pub"
for _ in $(seq 100); do
  grep -q '"msg":"ssh listening"' "$TMP/lafsd.log" 2>/dev/null && break
  kill -0 "$LAFSD_PID" 2>/dev/null || { cat "$TMP/lafsd.log" >&2; exit 1; }
  sleep 0.1
done
grep -q '"msg":"ssh listening"' "$TMP/lafsd.log" || { echo "$0: lafsd did not start" >&2; cat "$TMP/lafsd.log" >&2; exit 1; }
for _ in $(seq 50); do ssh "${SSH_OPTS[@]}" -p "$SSHD_PORT" "$(id -un)@127.0.0.1" true 2>/dev/null && break; sleep 0.1; done

# server name -> port, user, remote folder (with a trailing slash)
port_of() { [ "$1" = lafsd ] && echo "$LAFSD_PORT" || echo "$SSHD_PORT"; }
user_of() { [ "$1" = lafsd ] && echo bench || id -un; }
root_of() { [ "$1" = lafsd ] && echo / || echo "$TMP/sshd-remote/"; }

# --- clients: each `CLIENT_up SERVER` / `CLIENT_down SERVER` moves one file -------------------
mount_for() { # server: mounts its root at $TMP/mnt-SERVER
  mkdir -p "$TMP/mnt-$1"
  sshfs -p "$(port_of "$1")" -o "IdentityFile=$KEY,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,BatchMode=yes" \
    "$(user_of "$1")@127.0.0.1:$(root_of "$1")" "$TMP/mnt-$1"
}
# Untimed set-up around the timed copy: the mount before, the unmount after.
sshfs_up() { cp "$DATA/big.bin" "$TMP/mnt-$1/sshfs.bin"; }
sshfs_down() { cp "$TMP/mnt-$1/sshfs.bin" /dev/null; }
rclone_remote() { echo ":sftp,host=127.0.0.1,port=$(port_of "$1"),user=$(user_of "$1"),key_file=$KEY,disable_hashcheck=true:$(root_of "$1")"; }
rclone_up() { rclone copyto --ignore-times "$DATA/big.bin" "$(rclone_remote "$1")rclone.bin"; }
rclone_down() { rclone cat --discard "$(rclone_remote "$1")rclone.bin"; }
lftp_run() { # server command
  lftp -e "set sftp:connect-program 'ssh -a -x ${SSH_OPTS[*]}'; $2; quit" "sftp://$(user_of "$1"):x@127.0.0.1:$(port_of "$1")"
}
lftp_up() { lftp_run "$1" "put $DATA/big.bin -o $(root_of "$1")lftp.bin"; }
lftp_down() { lftp_run "$1" "cat $(root_of "$1")lftp.bin > /dev/null"; }
paramiko_run() { # server python-statement
  "$PYTHON" - "$(port_of "$1")" "$(user_of "$1")" "$KEY" "$(root_of "$1")" "$DATA" <<PY
import sys, paramiko
port, user, key, root, data = sys.argv[1:6]
c = paramiko.SSHClient()
c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
c.connect('127.0.0.1', int(port), user, key_filename=key, look_for_keys=False, allow_agent=False)
s = c.open_sftp()
$2
c.close()
PY
}
paramiko_up() { paramiko_run "$1" "s.put(data + '/py.bin', root + 'paramiko.bin')"; }
paramiko_down() { paramiko_run "$1" "s.get(root + 'paramiko.bin', data + '/py.out')"; rm -f "$DATA/py.out"; }

declare -A T
timed() { # key command...
  local key=$1 t0 t1
  shift
  t0=$(now)
  "$@" >"$TMP/out" 2>&1 || { echo "$0: $key failed:" >&2; cat "$TMP/out" >&2; exit 1; }
  t1=$(now)
  T[$key]="${T[$key]:-} $(echo "$t1 - $t0" | bc -l)"
}

for round in $(seq "$ROUNDS"); do
  echo "# round $round/$ROUNDS" >&2
  for server in lafsd sshd; do
    for client in "${CLIENTS[@]}"; do
      [ "$client" = sshfs ] && mount_for "$server"
      timed "$server.$client.up" "${client}_up" "$server"
      if [ "$client" = sshfs ]; then fusermount3 -u "$TMP/mnt-$server"; mount_for "$server"; fi
      timed "$server.$client.down" "${client}_down" "$server"
      [ "$client" = sshfs ] && fusermount3 -u "$TMP/mnt-$server"
    done
  done
done
RSS_KIB=$(awk '/^VmHWM:/ {print $2}' "/proc/$LAFSD_PID/status")

# Every uploaded file, fetched with OpenSSH's sftp and compared.
for server in lafsd sshd; do
  for client in "${CLIENTS[@]}"; do
    src=$DATA/big.bin; [ "$client" = paramiko ] && src=$DATA/py.bin
    sftp "${SSH_OPTS[@]}" -P "$(port_of "$server")" -b <(echo "get $(root_of "$server")$client.bin $DATA/check.bin") "$(user_of "$server")@127.0.0.1" >/dev/null
    cmp -s "$src" "$DATA/check.bin" || { echo "$0: $client's upload to $server differs" >&2; exit 1; }
    rm -f "$DATA/check.bin"
  done
done

echo
echo "SFTP clients, loopback, median of $ROUNDS rounds (interleaved); MB/s = 10^6 bytes/s; lafsd: \`lafsd run\`, embedded store in $TMP (fsyncs each commit); sshd: $SSHD + $SFTP_SERVER"
echo "machine before the bench: $MACHINE_AT_START"
printf '%-10s %8s %12s %12s %8s   %12s %12s %8s\n' client MiB 'up lafsd' 'up sshd' ratio 'down lafsd' 'down sshd' ratio
for client in "${CLIENTS[@]}"; do
  mib=$SIZE_MIB; [ "$client" = paramiko ] && mib=$PARAMIKO_MIB
  row=$(printf '%-10s %8s' "$client" "$mib")
  for dir in up down; do
    l=$(echo "${T[lafsd.$client.$dir]}" | tr ' ' '\n' | grep . | median)
    s=$(echo "${T[sshd.$client.$dir]}" | tr ' ' '\n' | grep . | median)
    row+=$(printf ' %7.0f MB/s %7.0f MB/s %8.2f  ' "$(echo "$mib * 1048576 / $l / 1000000" | bc -l)" "$(echo "$mib * 1048576 / $s / 1000000" | bc -l)" "$(echo "$s / $l" | bc -l)")
  done
  echo "$row"
done
echo
echo "seconds by round, lafsd | sshd:"
for client in "${CLIENTS[@]}"; do
  for dir in up down; do
    printf '%-16s' "$client $dir"
    for t in ${T[lafsd.$client.$dir]}; do printf ' %.2f' "$t"; done
    printf ' |'
    for t in ${T[sshd.$client.$dir]}; do printf ' %.2f' "$t"; done
    echo
  done
done
echo "ratio = lafsd speed / sshd speed; lafsd peak RSS (VmHWM) over all runs: $((RSS_KIB / 1024)) MiB"
