# Helpers every bench script uses (sourced by bench/sftp.sh, bench/ftp.sh and bench/clients.sh).

# A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick).
free_port() {
  node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# Seconds since the epoch, with nanoseconds (for differences with bc).
now() { date +%s.%N; }

# The median of the numbers on stdin, separated by spaces or newlines (the upper one of an even
# count).
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
