# What the machine holds when a bench starts, printed with its results (sourced by bench/sftp.sh,
# bench/ftp.sh and bench/clients.sh):
#   machine_state
# prints one line: available memory, the page cache and the part of it tmpfs holds, the load
# average. On the VM these benches were tuned on, memory already in use makes each new file
# slower to write (bench/README.md: `dd` of three new GiB files in a row, the third 2.4-4 times
# as slow as the first). With a GiB of earlier test data left in /dev/shm, lafsd's 1 GiB SFTP
# upload ran at 390 MB/s, and at 493 once it was gone (eighteenth session). Compare runs that
# started alike.
machine_state() {
  if [ -r /proc/meminfo ] && [ -r /proc/loadavg ]; then
    awk '/^MemAvailable:/ {a = $2} /^Cached:/ {c = $2} /^Shmem:/ {s = $2}
      END {printf "MemAvailable %d MiB, page cache %d MiB (tmpfs and shared memory %d MiB)", a / 1024, c / 1024, s / 1024}' /proc/meminfo
    printf ', load average %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  else
    echo "unknown (no /proc/meminfo)"
  fi
}
