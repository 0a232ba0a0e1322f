#!/bin/sh
# A real DNS server for tests/dns.test.ts: unbound on 127.0.0.1, serving the zone `svc.test.` from
# local-data, with live edits through `unbound-control` (no restart, real TTLs on the wire).
#
# Usage:
#   sh scripts/dns-server.sh install              # install unbound (Debian) if it is missing
#   sh scripts/dns-server.sh start DIR PORT CPORT # write DIR/unbound.conf, run unbound in the
#                                                 # foreground on 127.0.0.1:PORT (control on CPORT);
#                                                 # it stops by itself after 600 s (or when killed)
#
# `start` installs first when needed. Installing needs root and a working apt; apt is kept from
# starting the unbound service by a temporary /usr/sbin/policy-rc.d that exits 101 (an existing
# one is left alone). Every failure exits non-zero with a message on stderr.
set -eu

die() {
  echo "dns-server.sh: $*" >&2
  exit 1
}

install_unbound() {
  if command -v unbound >/dev/null 2>&1 && command -v unbound-control >/dev/null 2>&1; then
    return 0
  fi
  if [ -x /usr/sbin/unbound ] && [ -x /usr/sbin/unbound-control ]; then
    return 0
  fi
  sh "$(dirname "$0")/apt-install.sh" unbound || die "unbound is not installed and apt could not install it"
  # the package may have started a service despite policy-rc.d on some systems: leave it, we use our own port
}

cmd=${1:-}
case "$cmd" in
  install)
    install_unbound
    ;;
  start)
    [ $# -eq 4 ] || die "usage: dns-server.sh start DIR PORT CONTROL_PORT"
    dir=$2
    port=$3
    cport=$4
    install_unbound
    PATH="$PATH:/usr/sbin:/sbin"
    mkdir -p "$dir"
    cat >"$dir/unbound.conf" <<EOF
server:
  interface: 127.0.0.1
  port: $port
  do-ip4: yes
  do-ip6: no
  do-udp: yes
  do-tcp: yes
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$dir"
  pidfile: "$dir/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 0
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: yes
  module-config: "iterator"
  num-threads: 1
  local-zone: "svc.test." static
  local-data: "svc.test. 3600 IN SOA ns.svc.test. admin.svc.test. 1 3600 600 86400 1"
remote-control:
  control-enable: yes
  control-interface: 127.0.0.1
  control-port: $cport
  control-use-cert: no
EOF
    unbound-checkconf "$dir/unbound.conf" >&2 || die "unbound-checkconf rejected $dir/unbound.conf"
    exec timeout 600 unbound -d -c "$dir/unbound.conf"
    ;;
  *)
    die "usage: dns-server.sh install | start DIR PORT CONTROL_PORT"
    ;;
esac
