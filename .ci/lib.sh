# shellcheck shell=bash
# Shared helpers for the CI scripts. Source it, don't run it:
#
#     source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Every helper writes its diagnostics to stderr, so callers can keep stdout
# for machine-readable output (services.sh prints `export` lines there).
#
# The machines have no internet access except Debian's apt mirror and the Go
# module proxy. Never hard-code a mirror host: ci_mirror reads it from the
# apt configuration at run time.

# Guard against being sourced twice (the functions are idempotent anyway).
if [[ -n "${_CI_LIB_SOURCED:-}" ]]; then
	return 0
fi
_CI_LIB_SOURCED=1

# ci_log MESSAGE...: prints a timestamped message on stderr.
ci_log() {
	printf '[ci %(%H:%M:%S)T] %s\n' -1 "$*" >&2
}

# ci_die MESSAGE...: prints an error on stderr and exits with status 1.
ci_die() {
	printf '[ci %(%H:%M:%S)T] ERROR: %s\n' -1 "$*" >&2
	exit 1
}

# ci_apt_install PKG...: installs the given Debian packages that are not
# installed yet. `apt-get update` runs at most once per CI run, and only when
# something actually has to be installed. The marker is exported so that
# child scripts (e.g. images/build.sh started by services.sh) share it.
ci_apt_install() {
	local pkg missing=()
	for pkg in "$@"; do
		# dpkg -s succeeds for removed-but-not-purged packages too, so also
		# check the status line says "install ok installed".
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
			missing+=("$pkg")
		fi
	done
	if ((${#missing[@]} == 0)); then
		return 0
	fi

	if [[ -z "${CI_APT_UPDATED:-}" ]]; then
		ci_log "apt-get update"
		apt-get update -qq >&2
		export CI_APT_UPDATED=1
	fi
	ci_log "apt-get install ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# ci_mirror: prints the Debian mirror URI (e.g. http://host/debian) taken from
# the first `URIs:` line of the non-security entry of the deb822 source file.
ci_mirror() {
	local sources=/etc/apt/sources.list.d/debian.sources
	[[ -r "$sources" ]] || ci_die "ci_mirror: $sources not found"

	# deb822 stanzas are separated by blank lines (RS="" = paragraph mode).
	# Take the first stanza whose Suites are not *-security and print the
	# first URI of its URIs: field.
	local uri
	uri=$(awk '
		BEGIN { RS = ""; FS = "\n" }
		{
			uris = ""; security = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^URIs:/)   { split($i, f, /[ \t]+/); uris = f[2] }
				if ($i ~ /^Suites:/ && $i ~ /-security/) { security = 1 }
			}
			if (uris != "" && !security) { print uris; exit }
		}' "$sources")
	[[ -n "$uri" ]] || ci_die "ci_mirror: no non-security URIs: line in $sources"
	printf '%s\n' "$uri"
}

# ci_image NAME: prints the tag of the test database image NAME (postgres
# or mariadb) that images/build.sh builds. The names are the project's own,
# so that an image another tool made under a common name (local/postgres,
# say) is never taken for one of ours, nor replaced by one.
ci_image() {
	case "$1" in
	postgres) echo statebackend-ci/postgres:15 ;;
	mariadb) echo statebackend-ci/mariadb:10.11 ;;
	*) ci_die "ci_image: no image $1 (postgres, mariadb)" ;;
	esac
}

# ci_start_docker: makes sure a Docker engine is running and reachable.
# Installs docker.io when dockerd is missing and starts dockerd in its own
# session when `docker info` fails. Safe to call when Docker already runs.
ci_start_docker() {
	local log=/tmp/dockerd.log

	if ! command -v dockerd >/dev/null 2>&1; then
		ci_apt_install docker.io
	fi
	if docker info >/dev/null 2>&1; then
		return 0
	fi

	if pgrep -x dockerd >/dev/null 2>&1; then
		# Someone else started it and it is still coming up: just wait.
		ci_log "dockerd is running but not ready yet; waiting"
	else
		# A pid file left by a dead dockerd makes the new one refuse to start.
		local pidfile=/var/run/docker.pid
		if [[ -f "$pidfile" ]] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
			rm -f "$pidfile"
		fi
		ci_log "starting dockerd (log: $log)"
		setsid dockerd >"$log" 2>&1 </dev/null &
	fi

	local i
	for ((i = 0; i < 60; i++)); do
		if docker info >/dev/null 2>&1; then
			ci_log "docker is up after ${i}s"
			return 0
		fi
		sleep 1
	done

	ci_log "docker did not come up within 60s; last lines of $log:"
	tail -n 30 "$log" >&2 || true
	ci_die "ci_start_docker: Docker engine not available"
}
