# What the SFTP benches share, sourced by bench/sftp.sh and bench/clients.sh:
#   sftp_bench_prerequisites REPO
# checks the tools they need and sets LAFSD_MAIN (lafsd's compiled main.js; built with
# `npx tsc -b` when not given);
#   start_reference_sshd DIR PORT CLIENT_PUBKEY [CIPHERS]
# starts the reference SFTP server, OpenSSH's sshd and sftp-server, on a loopback port with its
# own config, host key and authorized_keys in DIR; sets SSHD_PID, and MADE_PRIVSEP=1 when it had
# to make /run/sshd (the caller's cleanup removes it again). SSHD and SFTP_SERVER name the
# binaries (defaults below).
SSHD=${SSHD:-/usr/sbin/sshd}
SFTP_SERVER=${SFTP_SERVER:-/usr/lib/openssh/sftp-server}

sftp_bench_prerequisites() {
  local repo=$1 cmd
  for cmd in sftp ssh ssh-keygen node; do
    command -v "$cmd" >/dev/null || { echo "$0: $cmd is needed" >&2; exit 2; }
  done
  [ -x "$SSHD" ] || { echo "$0: $SSHD not found (apt-get install openssh-server)" >&2; exit 2; }
  [ "$SFTP_SERVER" = internal-sftp ] || [ -x "$SFTP_SERVER" ] || { echo "$0: $SFTP_SERVER not found" >&2; exit 2; }
  if [ -z "${LAFSD_MAIN:-}" ]; then
    (cd "$repo" && npx tsc -b)
    LAFSD_MAIN=$repo/dist/src/cli/main.js
  fi
}

start_reference_sshd() {
  local dir=$1 port=$2 pubkey=$3 ciphers=${4:-}
  mkdir -p "$dir/home"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
  cp "$pubkey" "$dir/authorized_keys"
  cat >"$dir/sshd_config" <<CONFIG
ListenAddress 127.0.0.1
Port $port
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
${ciphers:+Ciphers $ciphers}
Subsystem sftp $SFTP_SERVER
# sshd starts sftp-server through the user's shell, which reads \$HOME/.bashrc when run by sshd:
# an empty HOME keeps the machine's shell set-up out of sshd's times (root's .bashrc here runs
# pyenv init: 0.45 s a session, charged to sshd's every transfer until 2026-12-05).
SetEnv HOME=$dir/home
CONFIG
  # Running as root, sshd wants its privilege-separation folder.
  if [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then mkdir -p /run/sshd && MADE_PRIVSEP=1; fi
  "$SSHD" -D -e -f "$dir/sshd_config" 2>"$dir/sshd.log" &
  SSHD_PID=$!
}
