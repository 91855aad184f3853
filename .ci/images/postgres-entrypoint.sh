#!/bin/bash
# Entrypoint of the statebackend-ci/postgres:15 test image (built by
# .ci/images/build.sh from Debian's postgresql-15 package). It mimics the
# official postgres image closely enough for testcontainers-go's postgres
# module:
#
#   POSTGRES_PASSWORD          password of the superuser (required unless
#                              POSTGRES_HOST_AUTH_METHOD=trust)
#   POSTGRES_USER              superuser name (default: postgres)
#   POSTGRES_DB                database to create (default: $POSTGRES_USER)
#   POSTGRES_INITDB_ARGS       extra arguments for initdb
#   POSTGRES_HOST_AUTH_METHOD  auth method for TCP clients (default: scram-sha-256)
#   PGDATA                     data directory (default: /var/lib/postgresql/data)
#   /docker-entrypoint-initdb.d/*.sh|*.sql  run once, after the database is created
#
# On first start it runs initdb, starts a temporary server that listens on
# the unix socket only, creates the database, stops it, and then execs the
# real server listening on all addresses. Both servers log "database system
# is ready to accept connections", so it appears twice in `docker logs`,
# exactly like the official image (testcontainers waits for 2 occurrences).
#
# Arguments: like the official image, `postgres [-c name=value ...]` (the
# default CMD) runs the server with those settings, a first argument starting
# with "-" is treated as a server flag, and anything else is exec'd as is.
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
export PATH="$PG_BIN:$PATH"
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

log() { echo "entrypoint: $*" >&2; }

# No arguments or server flags only: run the server.
if (($# == 0)) || [[ "$1" == -* ]]; then
	set -- postgres "$@"
fi
if [[ "$1" != postgres ]]; then
	exec "$@"
fi
shift # the remaining arguments are server flags, e.g. -c fsync=off

# As root: prepare directories, then re-run this script as the postgres user
# (setpriv is in util-linux, which every Debian system has).
if [[ "$(id -u)" == 0 ]]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	chmod 2775 /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
	POSTGRES_USER="${POSTGRES_USER:-postgres}"
	POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
	auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
	if [[ -z "${POSTGRES_PASSWORD:-}" && "$auth" != trust ]]; then
		log "POSTGRES_PASSWORD is not set (set it, or POSTGRES_HOST_AUTH_METHOD=trust)"
		exit 1
	fi

	# initdb creates POSTGRES_USER as the bootstrap superuser, with the
	# password read from a file so it never shows up in `ps`.
	pwfile=$(mktemp)
	printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
	initdb_args=(--username="$POSTGRES_USER" --pwfile="$pwfile"
		--encoding=UTF8 --auth-local=trust --auth-host="$auth")
	# When the server is asked not to fsync (testcontainers passes
	# `-c fsync=off`), initdb need not sync either: saves seconds per start.
	if [[ " $* " == *" fsync=off "* ]]; then
		initdb_args+=(--no-sync)
	fi
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of flags
	initdb "${initdb_args[@]}" ${POSTGRES_INITDB_ARGS:-}
	rm -f "$pwfile"

	# Server settings for tests. listen_addresses is overridden to '' for the
	# temporary server below; command-line -c flags win over this file.
	cat >>"$PGDATA/postgresql.conf" <<-'EOF'

		# Added by the CI entrypoint
		listen_addresses = '*'
		max_connections = 200
	EOF
	# Password auth for every remote client (IPv4 and IPv6).
	cat >>"$PGDATA/pg_hba.conf" <<-EOF

		# Added by the CI entrypoint
		host all all 0.0.0.0/0 $auth
		host all all ::/0 $auth
	EOF

	# Temporary server: unix socket only, so nobody can connect over TCP
	# before the database exists. It gets the same server flags as the real
	# one (as in the official image). Its log goes to our stdout/stderr.
	temp_options="-c listen_addresses='' -p 5432"
	if (($# > 0)); then
		# pg_ctl runs the server through a shell, so quote the flags.
		temp_options="$(printf '%q ' "$@")$temp_options"
	fi
	pg_ctl --pgdata="$PGDATA" --wait --silent --options="$temp_options" start

	psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres)
	if [[ "$POSTGRES_DB" != postgres ]]; then
		# The database name is passed as a psql variable and quoted by psql
		# (:"db"), so any name works.
		"${psql[@]}" --set db="$POSTGRES_DB" <<-'EOF'
			CREATE DATABASE :"db";
		EOF
	fi

	# Optional init scripts, as in the official image.
	for f in /docker-entrypoint-initdb.d/*; do
		[[ -e "$f" ]] || continue
		case "$f" in
		*.sh) log "running $f"; bash "$f" ;;
		*.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
		*) log "ignoring $f" ;;
		esac
	done

	pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
	log "PostgreSQL init process complete; ready for start up."
fi

# The real server, as PID 1, listening on all addresses (postgresql.conf).
exec postgres -D "$PGDATA" "$@"
