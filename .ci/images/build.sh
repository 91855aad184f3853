#!/bin/bash
# Builds a local database image from Debian packages, for the tests:
#
#     .ci/images/build.sh postgres   -> statebackend-ci/postgres:15
#     .ci/images/build.sh mariadb    -> statebackend-ci/mariadb:10.11
#
# (the names come from ci_image in lib.sh).
#
# No image registry is reachable from the CI machines, so the image is made
# with debootstrap (from Debian's apt mirror) and `docker import`, plus an
# entrypoint kept next to this script that behaves like the official image's
# (see postgres-entrypoint.sh / mariadb-entrypoint.sh).
#
# Idempotent: when the image exists and was built from the same recipe (a
# hash of this script and the image's files, stored as a label), nothing is
# done; when it was built from another recipe, it is rebuilt and replaced.
# An image of that name without the label was made by something else: the
# script stops rather than use or replace it. A fresh image is checked with
# verify.sh and removed if it fails.
#
# Diagnostics go to stderr; the only stdout output is the image name.
# Requires a running Docker engine (see ci_start_docker in lib.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh"

name=${1:-}
case "$name" in
postgres)
	image=$(ci_image postgres)
	packages=postgresql-15
	port=5432
	cmd='["postgres"]'
	changes=(
		-c 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
		-c 'ENV PGDATA=/var/lib/postgresql/data'
	)
	# `docker stop` should make postgres do a "fast shutdown" (SIGINT), as
	# in the official image; on SIGTERM it would wait for every client to
	# disconnect. `docker import -c` cannot set STOPSIGNAL, so it is added
	# with a one-line Dockerfile after the import.
	stopsignal=SIGINT
	files=("$here/postgres-entrypoint.sh")
	;;
mariadb)
	image=$(ci_image mariadb)
	packages=mariadb-server,mariadb-client
	port=3306
	cmd='["mariadbd"]'
	changes=()
	stopsignal= # mariadbd shuts down cleanly on the default SIGTERM
	files=("$here/mariadb-entrypoint.sh" "$here/mariadb-ci.cnf")
	;;
*)
	ci_die "usage: $0 postgres|mariadb"
	;;
esac

# The recipe hash: rebuild when this script, verify.sh or the image's files change.
recipe=$(cat "$here/build.sh" "$here/verify.sh" "${files[@]}" | sha256sum | cut -c1-16)
label=io.statebackend.ci.recipe

# One build per image at a time (e.g. two CI runs on one machine).
exec 9>"/tmp/statebackend-ci-image-$name.lock"
flock 9

old_id=
if docker image inspect "$image" >/dev/null 2>&1; then
	old_id=$(docker image inspect --format '{{.Id}}' "$image")
	have=$(docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$image" 2>/dev/null || true)
	if [[ -z "$have" || "$have" == "<no value>" ]]; then
		ci_die "image $image exists but was not built by this script (no $label label); remove it (docker image rm $image) to let the script build its own"
	fi
	if [[ "$have" == "$recipe" ]]; then
		ci_log "image $image is up to date (recipe $recipe); skipping build"
		echo "$image"
		exit 0
	fi
	ci_log "image $image was built from another recipe ($have, now $recipe); rebuilding"
fi

start=$SECONDS
ci_apt_install debootstrap
mirror=$(ci_mirror)

# Build in a temporary directory under /tmp (never inside the repository).
rootfs=$(mktemp -d /tmp/statebackend-ci-rootfs-XXXXXX)

# cleanup: unmounts anything debootstrap left mounted below the rootfs (so
# rm cannot reach the host's /proc or /dev), then removes it.
cleanup() {
	local mnt
	awk -v root="$rootfs" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r mnt; do
			umount -l "$mnt" || true
		done
	rm -rf --one-file-system "$rootfs"
}
trap cleanup EXIT

ci_log "debootstrap bookworm with $packages into $rootfs (mirror: $mirror)"
if ! debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
	tail -n 40 "$rootfs.log" >&2
	rm -f "$rootfs.log"
	ci_die "debootstrap failed"
fi
rm -f "$rootfs.log"

# Entrypoint and per-image configuration.
install -m 0755 "${files[0]}" "$rootfs/usr/local/bin/entrypoint.sh"
case "$name" in
postgres)
	# The package's postinst created a default cluster (15/main); the
	# entrypoint makes its own in $PGDATA on first start.
	rm -rf "$rootfs/etc/postgresql/15/main" "$rootfs/var/lib/postgresql/15"
	;;
mariadb)
	# The postinst initialised /var/lib/mysql; the entrypoint does it itself,
	# with the users and passwords from the environment.
	find "$rootfs/var/lib/mysql" -mindepth 1 -delete
	install -m 0644 "$here/mariadb-ci.cnf" "$rootfs/etc/mysql/mariadb.conf.d/99-ci.cnf"
	# Read /etc/mysql/conf.d/ last so user config files (testcontainers'
	# WithConfigFile) override Debian's and ours, as in the official image.
	cat >"$rootfs/etc/mysql/mariadb.cnf" <<-'EOF'
		# Written by .ci/images/build.sh: Debian's includes, conf.d/ last.
		[client-server]
		socket = /run/mysqld/mysqld.sock
		!includedir /etc/mysql/mariadb.conf.d/
		!includedir /etc/mysql/conf.d/
	EOF
	;;
esac

# Keep the image small: no package caches, lists or documentation.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
	"$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
	"$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*

# Never archive a mounted /proc or /sys by mistake.
if awk -v root="$rootfs" 'index($2, root) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
	ci_die "something is still mounted below $rootfs"
fi

ci_log "importing $image"
tar --numeric-owner -C "$rootfs" -c . |
	docker import \
		-c 'ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]' \
		-c "CMD $cmd" \
		-c "EXPOSE $port" \
		-c 'ENV LANG=C.UTF-8' \
		-c "LABEL $label=$recipe" \
		"${changes[@]}" \
		- "$image" >/dev/null
if [[ -n "$stopsignal" ]]; then
	# The legacy builder needs no registry: the base image is local.
	printf 'FROM %s\nSTOPSIGNAL %s\n' "$image" "$stopsignal" |
		DOCKER_BUILDKIT=0 docker build --quiet --tag "$image" - >/dev/null
fi

ci_log "verifying $image"
if ! bash "$here/verify.sh" "$name" >&2; then
	docker image rm "$image" >/dev/null 2>&1 || true
	ci_die "$image failed verification and was removed"
fi

# Drop the image this one replaced (fails harmlessly while a container uses it).
if [[ -n "$old_id" && "$old_id" != "$(docker image inspect --format '{{.Id}}' "$image")" ]]; then
	docker image rm "$old_id" >/dev/null 2>&1 || true
fi

ci_log "built $image in $((SECONDS - start))s ($(docker image inspect --format '{{.Size}}' "$image" | numfmt --to=iec))"
echo "$image"
