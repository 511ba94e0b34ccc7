# Shared by the e2e scripts that start host processes (sourced, not run).

# free_ports N: N free TCP ports on 127.0.0.1
free_ports() {
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))' "$1"
}

# wait_healthy URL PIDFILE LOG: wait until URL (on 127.0.0.1) answers; fail, with the log's tail,
# when the process has exited or 60 s have passed
wait_healthy() {
  for _ in $(seq 1 120); do
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null && return 0
    kill -0 "$(cat "$2")" 2>/dev/null || { tail -20 "$3" >&2; return 1; }
    sleep 0.5
  done
  echo "$1 did not answer within 60 s" >&2
  tail -20 "$3" >&2
  return 1
}
