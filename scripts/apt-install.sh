#!/bin/sh
# Installs Debian packages for the real servers the tests start on 127.0.0.1, without letting apt
# start them as services (a temporary /usr/sbin/policy-rc.d that exits 101; an existing one is
# left alone). Needs root and apt-get; tries `apt-get update` once when the install fails.
#
#   sh scripts/apt-install.sh <package>...
set -eu
[ "$(id -u)" = 0 ] || { echo "apt-install.sh: not root (id -u = $(id -u)): install $* by hand" >&2; exit 1; }
command -v apt-get >/dev/null 2>&1 || { echo "apt-install.sh: no apt-get here: install $* by hand" >&2; exit 1; }
created=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  created=yes
fi
install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2; }
status=0
if ! install "$@"; then
  echo "apt-install.sh: apt-get install $* failed; trying apt-get update first" >&2
  { DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 && install "$@"; } || status=1
fi
[ -n "$created" ] && rm -f /usr/sbin/policy-rc.d
[ "$status" = 0 ] || echo "apt-install.sh: could not install $*" >&2
exit $status
