#!/usr/bin/env bash
# FTP throughput: `lafsd run` (FTP on, SFTP off, its embedded store, info-level logs as
# shipped) against vsftpd (on a plain local folder), one curl client, on loopback. Uploads and
# downloads one 1 GiB file (timed to /dev/null, then fetched once more, untimed, to check it) and
# 1,000 4 KiB files (one curl process, one control connection for the 1,000), and prints MB/s,
# files/s, the ratios lafsd/vsftpd, every round's seconds and lafsd's peak RSS.
#
#   bench/ftp.sh                 # needs root (vsftpd), curl, vsftpd, a built tree
#   BUILD=.build-ftp ROUNDS=3 SIZE_MB=1024 SMALL=1000 bench/ftp.sh
#
# Files live on /dev/shm (tmpfs) when it is there, so the numbers compare the FTP stacks and
# stores, not the disk. vsftpd runs with anonymous upload into its folder (no accounts needed);
# lafsd with one account made by `lafsd add-user` (a hashed password). Each figure is the median
# of ROUNDS interleaved runs.
#
# PIN=1 runs the client on CPU 0 and the servers on the other CPUs. curl 7.88 (Debian 12)
# stalls for exactly one second when it is descheduled between sending EPSV and its first look
# for the reply and the reply is already there (a curl bug fixed in 8.4.0; against either
# server: vsftpd about once in 1,000 small transfers here). lafsd answers PASV/EPSV of same-host
# clients 0.5 ms late for that reason where curl could stall (src/ftp/curl-stall.ts): every one
# in this bench, whose files are all in one folder. Pinning takes the race out entirely, at the
# price of one CPU for the server.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-dist}"
ROUNDS="${ROUNDS:-3}"
SIZE_MB="${SIZE_MB:-1024}"
SMALL="${SMALL:-1000}"
LAFSD_MAIN="$ROOT/$BUILD/src/cli/main.js"
PIN="${PIN:-0}"

for tool in curl vsftpd node; do command -v "$tool" >/dev/null || { echo "bench/ftp.sh: $tool is not installed" >&2; exit 1; }; done
[ -f "$LAFSD_MAIN" ] || { echo "bench/ftp.sh: $LAFSD_MAIN is missing; build first (npm run build, or BUILD=...)" >&2; exit 1; }
# The Node options the `lafsd` command runs with (its launch line), so the bench measures what users run.
# As the installed command starts lafsd: the launch line's variables, node and its options.
LAUNCH_WORDS="$("$ROOT/scripts/launch-args.sh" "$LAFSD_MAIN")"
read -r -a LAUNCH <<<"$LAUNCH_WORDS"
[ "$(id -u)" = 0 ] || { echo "bench/ftp.sh: vsftpd needs root" >&2; exit 1; }

# shellcheck source=bench/lib/machine.sh
. "$ROOT/bench/lib/machine.sh"
# shellcheck source=bench/lib/common.sh
. "$ROOT/bench/lib/common.sh"
MACHINE_AT_START=$(machine_state)

BASE=/dev/shm; [ -d "$BASE" ] && [ -w "$BASE" ] || BASE="${TMPDIR:-/tmp}"
WORK="$(mktemp -d "$BASE/lafsd-ftp-bench.XXXXXX")"
LAFSD_PID=""; VSFTPD_PID=""
cleanup() {
  [ -n "$LAFSD_PID" ] && kill "$LAFSD_PID" 2>/dev/null && wait "$LAFSD_PID" 2>/dev/null || true
  [ -n "$VSFTPD_PID" ] && kill "$VSFTPD_PID" 2>/dev/null && wait "$VSFTPD_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ON_SERVER=(); ON_CLIENT=()
if [ "$PIN" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  ON_SERVER=(taskset -c "1-$(($(nproc) - 1))"); ON_CLIENT=(taskset -c 0)
fi

echo "preparing ${SIZE_MB} MiB and ${SMALL} x 4 KiB of random data in $WORK"
mkdir -p "$WORK/data/small" "$WORK/out"
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom > "$WORK/data/big.bin"
for i in $(seq -w 1 "$SMALL"); do head -c 4096 /dev/urandom > "$WORK/data/small/f$i.dat"; done
FIRST="$(printf "%0${#SMALL}d" 1)"
BIG_BYTES=$((SIZE_MB * 1024 * 1024))

# --- lafsd -----------------------------------------------------------------------------------
LAFSD_PORT="$(free_port)"
node "$LAFSD_MAIN" init "$WORK/lafsd" --ftp-port "tcp:$LAFSD_PORT:interface=127.0.0.1" >/dev/null 2>&1
# SFTP is not measured here: switch it off so its port cannot clash.
sed -i '/^\[sftpd\]/,/^\[/ s/^enabled = true/enabled = false/' "$WORK/lafsd/tahoe.cfg"
node "$LAFSD_MAIN" add-user "$WORK/lafsd" bench --password benchpass >/dev/null 2>&1
${ON_SERVER[@]+"${ON_SERVER[@]}"} env LAFSD_LOG_LEVEL=info "${LAUNCH[@]}" "$LAFSD_MAIN" run "$WORK/lafsd" > "$WORK/lafsd.log" 2>&1 &
LAFSD_PID=$!
for _ in $(seq 100); do grep -q '"msg":"FTP listening"' "$WORK/lafsd.log" 2>/dev/null && break; kill -0 "$LAFSD_PID" 2>/dev/null || break; sleep 0.1; done
grep -q '"msg":"FTP listening"' "$WORK/lafsd.log" || { echo "bench/ftp.sh: lafsd did not start" >&2; cat "$WORK/lafsd.log" >&2; exit 1; }
LAFSD_URL="ftp://bench:benchpass@127.0.0.1:$LAFSD_PORT"
curl -sS -Q "MKD /small" "$LAFSD_URL/" >/dev/null

# --- vsftpd ----------------------------------------------------------------------------------
VS_PORT="$(free_port)"
mkdir -p "$WORK/vsftpd/root/up/small" "$WORK/vsftpd/empty"
chown -R ftp "$WORK/vsftpd/root/up"
chmod 555 "$WORK/vsftpd/root"
cat > "$WORK/vsftpd/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$VS_PORT
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$WORK/vsftpd/root
anon_upload_enable=YES
anon_mkdir_write_enable=YES
anon_other_write_enable=YES
anon_world_readable_only=NO
anon_umask=022
write_enable=YES
local_enable=NO
ftp_username=ftp
secure_chroot_dir=$WORK/vsftpd/empty
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
xferlog_enable=NO
dirmessage_enable=NO
connect_from_port_20=NO
pasv_enable=YES
max_clients=0
max_per_ip=0
EOF
${ON_SERVER[@]+"${ON_SERVER[@]}"} vsftpd "$WORK/vsftpd/vsftpd.conf" > "$WORK/vsftpd.log" 2>&1 &
VSFTPD_PID=$!
for _ in $(seq 50); do curl -s "ftp://127.0.0.1:$VS_PORT/" >/dev/null 2>&1 && break; sleep 0.1; done
VS_URL="ftp://anonymous:@127.0.0.1:$VS_PORT/up"

# --- runs ------------------------------------------------------------------------------------
# Each prints seconds of wall time for the whole curl process.
# Each curl also prints every transfer's own time (-w), from which a run counts curl 7.88's
# one-second stalls (see above): "seconds stalls stalled-seconds", where stalled-seconds is what
# the stalled transfers took beyond the run's median transfer.
run_timed() {
  local t0 t1; t0=$(now)
  ${ON_CLIENT[@]+"${ON_CLIENT[@]}"} "$@" -w '%{time_total}\n' > "$WORK/times"
  t1=$(now)
  printf '%s ' "$(echo "$t1 - $t0" | bc -l)"
  sort -g "$WORK/times" | awk '{t[NR]=$1} END {m=t[int((NR+1)/2)]; for (i=1;i<=NR;i++) if (t[i]>=0.9) {n++; x+=t[i]-m} printf "%d %.3f\n", n, x}'
}
big_up() { run_timed curl -sS --fail -T "$WORK/data/big.bin" "$1/big.bin"; }
# The timed download goes to /dev/null: into tmpfs, curl's own writes cost this VM 0.7-3.8 s per
# GiB from one round to the next (fresh guest pages, bench/README.md, sixteenth session), for
# either server, and hid the servers' difference. An untimed download checks the bytes.
big_down() { run_timed curl -sS --fail -o /dev/null "$1/big.bin"; }
big_check() { curl -sS --fail -o "$WORK/out/big.bin" "$1/big.bin"; }
small_up() { run_timed curl -sS --fail -T "$WORK/data/small/f[$FIRST-$SMALL].dat" "$1/small/"; }
small_down() { run_timed curl -sS --fail -o "$WORK/out/f#1.dat" "$1/small/f[$FIRST-$SMALL].dat"; }

declare -A T STALLS CLEAN
for round in $(seq "$ROUNDS"); do
  for server in lafsd vsftpd; do
    url="$LAFSD_URL"; [ "$server" = vsftpd ] && url="$VS_URL"
    for what in big_up big_down small_up small_down; do
      read -r secs stalls stalled <<<"$($what "$url")"
      T["$server.$what"]+="$secs "
      STALLS["$server.$what"]+="$stalls "
      CLEAN["$server.$what"]+="$(echo "$secs - $stalled" | bc -l) "
    done
    big_check "$url"
    cmp -s "$WORK/data/big.bin" "$WORK/out/big.bin" || { echo "bench/ftp.sh: $server returned a different 1 GiB file" >&2; exit 1; }
    cmp -s "$WORK/data/small/f$FIRST.dat" "$WORK/out/f$FIRST.dat" || { echo "bench/ftp.sh: $server returned a different small file" >&2; exit 1; }
    rm -f "$WORK/out/"*
  done
  echo "round $round done"
done
RSS_KB="$(awk '/VmHWM/ {print $2}' "/proc/$LAFSD_PID/status")"

# The median of what an array (T or CLEAN) recorded for one key.
median_of() { local -n recorded=$1; echo "${recorded[$2]}" | tr ' ' '\n' | grep . | median; }
mbps() { echo "$1 / $2 / 1000000" | bc -l; }

label() {
  case $1 in
    big_up) echo "$SIZE_MB MiB upload";; big_down) echo "$SIZE_MB MiB download";;
    small_up) echo "$SMALL x 4 KiB upload";; small_down) echo "$SMALL x 4 KiB download";;
  esac
}
# A small-file row: label, lafsd's seconds, vsftpd's seconds.
small_row() {
  printf '%-24s %7.0f files/s %7.0f files/s %10.2f   (%.2f s vs %.2f s)\n' "$1" "$(echo "$SMALL / $2" | bc -l)" "$(echo "$SMALL / $3" | bc -l)" "$(echo "$3 / $2" | bc -l)" "$2" "$3"
}
printf '\n%-24s %14s %14s %10s\n' "curl, loopback" "lafsd" "vsftpd" "ratio"
for what in big_up big_down small_up small_down; do
  l="$(median_of T "lafsd.$what")"; v="$(median_of T "vsftpd.$what")"
  if [[ $what == big* ]]; then
    printf '%-24s %9.0f MB/s %9.0f MB/s %10.2f\n' "$(label "$what")" "$(mbps "$BIG_BYTES" "$l")" "$(mbps "$BIG_BYTES" "$v")" "$(echo "$v / $l" | bc -l)"
  else
    small_row "$(label "$what")" "$l" "$v"
  fi
done
# Every round's time, so a stall (curl's one second) or a drift (TIME_WAIT, bench/README.md) shows
# behind the medians, and so does how far vsftpd's own rounds are apart.
by_round() { for t in ${T[$1]}; do printf ' %.2f' "$t"; done; }
printf '\nseconds by round, lafsd | vsftpd:\n'
for what in big_up big_down small_up small_down; do
  printf '%-24s%s |%s\n' "$(label "$what")" "$(by_round "lafsd.$what")" "$(by_round "vsftpd.$what")"
done
# curl's stalls hit either server (vsftpd: about one in 1,000 small transfers here; lafsd, with
# its pause, about one in 12,000), so the small files' ratios also print without them.
printf '\ncurl stalls of ~1 s (transfers of >= 0.9 s) by round, lafsd | vsftpd:\n'
for what in small_up small_down; do
  printf '%-24s %s| %s\n' "$(label "$what")" "${STALLS[lafsd.$what]}" "${STALLS[vsftpd.$what]}"
done
printf 'without the stalls (each stalled transfer counted as the median one):\n'
for what in small_up small_down; do
  small_row "$(label "$what")" "$(median_of CLEAN "lafsd.$what")" "$(median_of CLEAN "vsftpd.$what")"
done
pinned="not pinned"; [ ${#ON_CLIENT[@]} -gt 0 ] && pinned="curl on CPU 0, servers on the others"
printf '\nratio = lafsd speed / vsftpd speed (median of %s rounds; %s); lafsd peak RSS: %d MiB\n' "$ROUNDS" "$pinned" "$((RSS_KB / 1024))"
echo "machine before the bench: $MACHINE_AT_START"
