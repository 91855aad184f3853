#!/bin/bash
# Installs what the scale-out test fixtures need, from Debian's packages:
#
#   conformance/pgreplicatest  postgresql-15 (a primary and a streaming replica)
#   conformance/galeratest     mariadb-server, mariadb-client, galera-4, rsync
#                              (a three-node Galera cluster, rsync state transfer)
#   conformance/pgbouncertest  pgbouncer (a pooler in transaction mode in front
#                              of a Postgres)
#
# The fixtures start their own servers on free loopback ports, from the
# packages' binaries, so no system service may be left running: Debian's
# postinst scripts would start the postgresql, mariadb and pgbouncer
# services, and a temporary /usr/sbin/policy-rc.d that exits 101 ("action
# forbidden") stops them from doing so. A policy-rc.d that was there before
# is put back afterwards.
#
# Run it as root on Debian bookworm:
#
#     bash .ci/scaleout.sh
#
# Idempotent: when everything is installed it does nothing (~0.1 s).
# Diagnostics go to stderr; stdout stays empty.
set -euo pipefail

ci_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$ci_dir/lib.sh"

packages=(
	postgresql-15
	mariadb-server mariadb-client galera-4
	# rsync state transfer: wsrep_sst_rsync runs rsync, and finds its
	# listening daemon with ss (iproute2) or lsof.
	rsync iproute2 lsof
	pgbouncer
)

# all_installed: succeeds when every package is installed, so that a
# machine that has them is left untouched (no policy-rc.d dance).
all_installed() {
	local pkg
	for pkg in "${packages[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
			return 1
		fi
	done
}
if all_installed; then
	exit 0
fi

[[ "$(id -u)" == 0 ]] || ci_die "scaleout.sh: run as root (it installs Debian packages)"

policy=/usr/sbin/policy-rc.d
saved_policy=
if [[ -e "$policy" ]]; then
	saved_policy=$(mktemp /tmp/statebackend-policy-rc.d-XXXXXX)
	cp -p "$policy" "$saved_policy"
fi
apt_config=$(mktemp /tmp/statebackend-apt-XXXXXX)

# restore: puts the machine's own policy-rc.d back (or removes ours).
restore() {
	if [[ -n "$saved_policy" ]]; then
		cp -p "$saved_policy" "$policy"
		rm -f "$saved_policy"
	else
		rm -f "$policy"
	fi
	rm -f "$apt_config"
}
trap restore EXIT
# Interrupted, still restore (bash runs the EXIT trap on exit).
trap 'exit 1' INT TERM HUP

printf '#!/bin/sh\n# Written by statebackend .ci/scaleout.sh while it installs packages.\nexit 101\n' >"$policy"
chmod 0755 "$policy"

# Other jobs on a shared machine may hold the dpkg lock for a while: wait for
# it rather than fail. APT_CONFIG adds to apt's configuration; it replaces
# nothing.
echo 'DPkg::Lock::Timeout "600";' >"$apt_config"
export APT_CONFIG=$apt_config

start=$SECONDS
ci_apt_install "${packages[@]}"
ci_log "scale-out packages installed in $((SECONDS - start))s"
