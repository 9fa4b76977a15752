#!/bin/sh
# Starts lafsd on the node in $LAFSD_BASEDIR (the volume). On the first start, with an empty
# volume, it makes the node: listening on every interface of the container (publish the ports
# with -p), with metrics and health checks on port 9464 for the image's HEALTHCHECK.
# `docker run IMAGE COMMAND ARGS` runs any other lafsd command (check-config, add-user, ...).
set -eu
base="${LAFSD_BASEDIR:-/var/lib/lafsd}"
if [ "${1:-run}" = run ]; then
  if [ ! -e "$base/tahoe.cfg" ]; then
    lafsd init "$base" --sftp-port tcp:8022 --ftp-port tcp:8021 --metrics-port tcp:9464
    echo "lafsd: add an account with: docker exec -it CONTAINER lafsd add-user $base NAME" >&2
  fi
  exec lafsd run "$base"
fi
exec lafsd "$@"
