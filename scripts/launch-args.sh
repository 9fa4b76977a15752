#!/usr/bin/env bash
# Prints what the `lafsd` command's launch line (line 2 of main.js, see src/cli/main.ts) puts
# before the script: its variables, `node` and Node's options, one word each, so a bench can
# start `lafsd run` as the installed command does and still know the server's PID (Node's), and
# the Node-lane smoke can check that each of them reached the server.
#
#   read -r -a LAUNCH <<<"$(scripts/launch-args.sh dist/src/cli/main.js)"
#   env "${LAUNCH[@]}" dist/src/cli/main.js run BASEDIR &
set -euo pipefail
main="${1:?usage: $0 path/to/main.js}"
args="$(sed -n '2s|^//usr/bin/env true; exec /usr/bin/env \(.*\) "$0" "$@"$|\1|p' "$main")"
[ -n "$args" ] || { echo "$0: line 2 of $main is not lafsd's launch line" >&2; exit 1; }
printf '%s\n' "$args"
