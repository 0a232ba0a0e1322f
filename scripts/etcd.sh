#!/bin/sh
# etcd 3.4 (Debian's etcd-server) for the integration tests in tests/etcd.test.ts, on loopback only.
#
#   sh scripts/etcd.sh install
#       installs etcd-server with apt when `etcd` is missing (root only; apt is told not to start
#       the service: a temporary /usr/sbin/policy-rc.d exiting 101, removed afterwards unless one
#       was already there). Prints the etcd version.
#   sh scripts/etcd.sh start <dir> <clientPort> <peerPort> [lifetimeSeconds]
#       installs if needed, then starts one etcd node on 127.0.0.1:<clientPort> (peers on
#       <peerPort>) with its data in <dir>/data and its log in <dir>/etcd.log, and prints its PID.
#       Starting again with the same <dir> restarts the same member on the same data. The node
#       stops by itself after lifetimeSeconds (default 600): a watchdog kills it then.
#
# etcd reads every ETCD_* environment variable as a flag, so none is passed on to it.
set -eu

die() {
  echo "scripts/etcd.sh: $*" >&2
  exit 1
}

install_etcd() {
  if command -v etcd >/dev/null 2>&1; then
    return 0
  fi
  sh "$(dirname "$0")/apt-install.sh" etcd-server || die "etcd is not installed and apt could not install etcd-server"
  command -v etcd >/dev/null 2>&1 || die "etcd-server was installed but there is no etcd on PATH"
}

# drop every ETCD_* variable from this shell's environment: etcd would read them as flags
for name in $(env | sed -n 's/^\(ETCD_[A-Za-z0-9_]*\)=.*/\1/p'); do
  unset "$name"
done

command=${1:-}
case "$command" in
  install)
    install_etcd
    etcd --version | head -n 1
    ;;
  start)
    [ $# -ge 4 ] || die "usage: scripts/etcd.sh start <dir> <clientPort> <peerPort> [lifetimeSeconds]"
    dir=$2
    client=$3
    peer=$4
    life=${5:-600}
    install_etcd
    mkdir -p "$dir"
    etcd --name switchyard-test \
      --data-dir "$dir/data" \
      --listen-client-urls "http://127.0.0.1:$client" \
      --advertise-client-urls "http://127.0.0.1:$client" \
      --listen-peer-urls "http://127.0.0.1:$peer" \
      --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
      --initial-cluster "switchyard-test=http://127.0.0.1:$peer" \
      --initial-cluster-state new \
      --heartbeat-interval 10 --election-timeout 100 \
      </dev/null >>"$dir/etcd.log" 2>&1 &
    pid=$!
    # the watchdog: kills etcd after $life seconds, and ends as soon as etcd does
    (
      i=0
      while [ "$i" -lt "$life" ] && kill -0 "$pid" 2>/dev/null; do
        sleep 1
        i=$((i + 1))
      done
      kill -KILL "$pid" 2>/dev/null || true
    ) </dev/null >/dev/null 2>&1 &
    echo "$pid"
    ;;
  *)
    die "usage: scripts/etcd.sh install | start <dir> <clientPort> <peerPort> [lifetimeSeconds]"
    ;;
esac
