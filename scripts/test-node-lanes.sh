#!/usr/bin/env bash
# Runs test lanes on other Node.js majors than the machine's: `scripts/test-node-lanes.sh 22
# 24:unit,integration` runs the unit lane on Node 22 and the unit and integration lanes on 24
# (MAJOR alone: the unit lane).
#
# For each major: the official Node binary comes from the npm registry (the `node-linux-<arch>`
# package, which also holds that version's C headers), the working tree (without node_modules,
# dist and ./node) is copied to a temp folder, and `npm ci` runs there under that Node, so the
# native addons (better-sqlite3, ssh2's sshcrypto.node, lafsd's own in native/) are built for its ABI against its own
# headers. The copy's `npm ci` must print no install-script or engine warning; a real node must
# start (SQLite and ssh2's crypto binding load), answer /readyz and stop cleanly on SIGTERM, with
# no warning from Node on stderr; then `node dist/test/run.js LANES` runs. Everything is removed
# afterwards.
#
# The builds can be made ahead, all at once: `LAFSD_LANES_DIR=DIR LAFSD_LANES_PHASE=prepare
# scripts/test-node-lanes.sh SPEC...` fetches each major and runs its `npm ci` in DIR, side by
# side; a later run with the same LAFSD_LANES_DIR tests the lanes it finds built there (and
# builds any it does not find), then removes them. .ci/run builds them while the machine's own
# `npm ci` runs, so that no test runs beside a build: it saves CI ~3 minutes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
usage="usage: $0 MAJOR[:LANE,...] ...   (e.g. 22 24:unit,integration; lanes: unit, integration)"
if [ "$#" -eq 0 ]; then
  echo "$usage" >&2
  exit 2
fi
for spec in "$@"; do
  [[ "$spec" =~ ^[0-9]+(:(unit|integration)(,(unit|integration))*)?$ ]] || { echo "$spec? $usage" >&2; exit 2; }
done
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "no Node package for $(uname -m)" >&2; exit 1 ;;
esac
phase="${LAFSD_LANES_PHASE:-test}"
[ "$phase" = prepare ] || [ "$phase" = test ] || { echo "LAFSD_LANES_PHASE=$phase? prepare or test" >&2; exit 2; }
if [ -n "${LAFSD_LANES_DIR:-}" ]; then
  work="$LAFSD_LANES_DIR"
  mkdir -p "$work"
else
  [ "$phase" = test ] || { echo "LAFSD_LANES_PHASE=prepare needs LAFSD_LANES_DIR" >&2; exit 2; }
  work="$(mktemp -d "${TMPDIR:-/tmp}/lafsd-node-lanes.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
fi
# The Node that runs everything else (for the test that every supported major is tested).
LAFSD_MACHINE_NODE="$(node --version)"
export LAFSD_MACHINE_NODE

# init, add-user, run on ephemeral loopback ports; /readyz; SIGTERM. Run inside the copy.
smoke() {
  local node="$1/node" log="$1/run.log" err="$1/stderr" port=""
  node dist/src/cli/main.js init "$node" --sftp-port tcp:0:interface=127.0.0.1 \
    --ftp-port tcp:0:interface=127.0.0.1 --metrics-port tcp:0:interface=127.0.0.1 2>>"$err"
  node dist/src/cli/main.js add-user "$node" smoke --password smoke-password >/dev/null 2>>"$err"
  # Started as the installed `lafsd` command is, through its launch lines (Node options included).
  chmod +x dist/src/cli/main.js
  dist/src/cli/main.js run "$node" >"$log" 2>>"$err" &
  server=$!
  for _ in $(seq 150); do
    grep -q '"msg":"FTP listening"' "$log" && break
    sleep 0.2
  done
  port="$(sed -n 's/.*"port":\([0-9]*\),"msg":"metrics listening".*/\1/p' "$log")"
  if [ -z "$port" ] || ! grep -q '"msg":"FTP listening"' "$log"; then
    cat "$log" "$err" >&2
    echo "lafsd run did not start" >&2
    return 1
  fi
  curl -fsS --max-time 10 "http://127.0.0.1:$port/readyz"
  # Each of the launch line's variables reached the server, and /bin/sh exec'd Node with each of
  # its options (the PID is Node's). The values themselves are the unit lane's to check.
  local words word
  words="$(scripts/launch-args.sh dist/src/cli/main.js)" || return 1
  for word in $words; do
    case "$word" in
      --*) # an option (first: options such as --initial-old-space-size=128 hold a '=' too)
        if ! tr '\0' '\n' <"/proc/$server/cmdline" | grep -qxF -- "$word"; then
          echo "lafsd run's PID is not Node with the launch line's $word: $(tr '\0' ' ' <"/proc/$server/cmdline")" >&2
          return 1
        fi ;;
      *=*) # a variable
        if ! tr '\0' '\n' <"/proc/$server/environ" | grep -qxF -- "$word"; then
          echo "lafsd run did not get ${word%%=*} from its launch line" >&2
          return 1
        fi ;;
    esac
  done
  kill -TERM "$server"
  wait "$server" || { echo "lafsd run exited $? on SIGTERM" >&2; cat "$err" >&2; return 1; }
  server=""
  if grep -i 'warning' "$err"; then
    echo "Node printed warnings (above)" >&2
    return 1
  fi
}

# Where Node MAJOR's package puts its binary and headers, under its lane's folder.
node_home() {
  echo "$work/node$1/runtime/node_modules/node-linux-$arch"
}

# Fetches Node MAJOR and builds a copy of the tree with it in $work/nodeMAJOR; marks it ready.
prepare() {
  local major="$1" lane="$work/node$1" nodehome
  [ ! -e "$lane/ready" ] || return 0
  rm -rf "$lane"
  mkdir -p "$lane/runtime" "$lane/src"
  echo "== Node $major: fetching node-linux-$arch@$major"
  npm install --prefix "$lane/runtime" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-$arch@$major" >/dev/null
  nodehome="$(node_home "$major")"
  tar -C "$root" --exclude=./node_modules --exclude=./dist --exclude=./node --exclude=./.git --exclude='./.build-*' --exclude='./native/*/build' -cf - . | tar -C "$lane/src" -xf -
  (
    cd "$lane/src"
    # npm's own `nodedir` (the machine's headers) would build the addons for the wrong ABI.
    export PATH="$nodehome/bin:$PATH" npm_config_nodedir="$nodehome"
    echo "== Node $major: $(node --version), npm ci"
    npm ci --no-audit --no-fund >"$lane/npm-ci.log" 2>&1 || { cat "$lane/npm-ci.log"; exit 1; }
    if grep -E 'npm warn (install-scripts|EBADENGINE)' "$lane/npm-ci.log"; then
      echo "npm ci on Node $major warned about install scripts or engines (above)" >&2
      exit 1
    fi
  )
  touch "$lane/ready"
}

if [ "$phase" = prepare ]; then
  # Side by side: each build mostly waits for the registry or compiles one file at a time.
  pids=() majors=()
  for spec in "$@"; do
    major="${spec%%:*}"
    prepare "$major" >"$work/prepare-$major.log" 2>&1 &
    pids+=("$!") majors+=("$major")
  done
  failed=0
  for i in "${!pids[@]}"; do
    major="${majors[$i]}"
    if wait "${pids[$i]}"; then
      echo "== Node $major: built"
    else
      cat "$work/prepare-$major.log" >&2
      echo "== Node $major: build failed" >&2
      failed=1
    fi
  done
  exit "$failed"
fi

for spec in "$@"; do
  major="${spec%%:*}"
  lanes=unit
  [ "$spec" = "$major" ] || lanes="${spec#*:}"
  started=$SECONDS
  lane="$work/node$major"
  if [ -e "$lane/ready" ]; then echo "== Node $major: built beforehand"; else prepare "$major"; fi
  nodehome="$(node_home "$major")"
  (
    server=""
    trap '[ -z "$server" ] || kill -9 "$server" 2>/dev/null || true' EXIT
    cd "$lane/src"
    export PATH="$nodehome/bin:$PATH" npm_config_nodedir="$nodehome"
    node dist/src/cli/main.js --version
    mkdir "$lane/smoke"
    smoke "$lane/smoke"
    # shellcheck disable=SC2086 # one word per lane
    node dist/test/run.js ${lanes//,/ }
  )
  echo "== Node $major: done in $((SECONDS - started)) s"
  rm -rf "$lane"
done
