#!/bin/bash
# Smoke test of a local database image, the way the tests use it: start a
# container with credentials in the environment and a port mapped to
# 127.0.0.1, wait for the log line(s) testcontainers-go waits for, then
# connect with the host's client over TCP.
#
#     .ci/images/verify.sh postgres   # statebackend-ci/postgres:15
#     .ci/images/verify.sh mariadb    # statebackend-ci/mariadb:10.11 (incl. a 64 MiB row)
#
# Installs the client (postgresql-client / mariadb-client) when missing. The
# container is removed afterwards, also on failure (its log is shown then).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh"

name=${1:-}
cid=
cleanup() {
	if [[ -n "$cid" ]]; then
		docker rm -f "$cid" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

# wait_for_log PATTERN COUNT: waits (up to 120 s) until the container's log
# holds COUNT lines matching the fixed string PATTERN.
wait_for_log() {
	local pattern=$1 count=$2 i n
	for ((i = 0; i < 240; i++)); do
		n=$(docker logs "$cid" 2>&1 | grep -cF -- "$pattern" || true)
		if ((n >= count)); then
			return 0
		fi
		if [[ "$(docker inspect --format '{{.State.Running}}' "$cid")" != true ]]; then
			break
		fi
		sleep 0.5
	done
	docker logs "$cid" 2>&1 | tail -n 40 >&2
	ci_die "$name: log line '$pattern' seen ${n:-0} times, wanted $count"
}

case "$name" in
postgres)
	ci_apt_install postgresql-client
	# The same command testcontainers' postgres module uses (CMD postgres -c fsync=off).
	cid=$(docker run -d -p 127.0.0.1::5432 \
		-e POSTGRES_PASSWORD=pw -e POSTGRES_USER=u -e POSTGRES_DB=d \
		"$(ci_image postgres)" postgres -c fsync=off)
	wait_for_log "database system is ready to accept connections" 2
	hostport=$(docker port "$cid" 5432/tcp | head -n1)
	export PGPASSWORD=pw
	psql=(psql -X -v ON_ERROR_STOP=1 -At "postgresql://u@${hostport}/d?sslmode=disable")
	"${psql[@]}" -c 'SELECT version()' >&2
	# -c flags from the command line are applied; the image's defaults too.
	settings=$("${psql[@]}" -c "SELECT current_setting('fsync') || ' ' || current_setting('max_connections') || ' ' || current_setting('password_encryption')")
	[[ "$settings" == "off 200 scram-sha-256" ]] || ci_die "postgres: unexpected settings: $settings"
	# A wrong password must be refused (password auth over TCP, not trust).
	if PGPASSWORD=wrong psql -X -At "postgresql://u@${hostport}/d?sslmode=disable" -c 'SELECT 1' >/dev/null 2>&1; then
		ci_die "postgres: a wrong password was accepted"
	fi
	# shellcheck disable=SC2016 # $$a$$ is SQL dollar quoting
	"${psql[@]}" -c 'SELECT length(repeat($$a$$, 67108864))' >&2
	;;
mariadb)
	ci_apt_install mariadb-client
	cid=$(docker run -d -p 127.0.0.1::3306 \
		-e MARIADB_USER=u -e MARIADB_PASSWORD=pw -e MARIADB_DATABASE=d -e MARIADB_ROOT_PASSWORD=rootpw \
		"$(ci_image mariadb)")
	# What testcontainers-go's mariadb module waits for.
	wait_for_log "port: 3306  mariadb.org binary distribution" 1
	hostport=$(docker port "$cid" 3306/tcp | head -n1)
	export MYSQL_PWD=pw
	mariadb=(mariadb --no-defaults --protocol=tcp --host="${hostport%:*}" --port="${hostport##*:}"
		--user=u --max-allowed-packet=256M --batch --skip-column-names d)
	"${mariadb[@]}" -e 'SELECT VERSION(), @@character_set_server, @@collation_server, @@max_allowed_packet' >&2
	"${mariadb[@]}" -e 'CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB NOT NULL)'
	# A 64 MiB value made by the server...
	"${mariadb[@]}" -e "INSERT INTO blobs VALUES (1, REPEAT('a', 67108864))"
	# ...and one sent by the client in a single 64 MiB packet.
	{
		printf "INSERT INTO blobs VALUES (2, '"
		head -c 67108864 /dev/zero | tr '\0' 'b'
		printf "');\n"
	} | "${mariadb[@]}"
	lengths=$("${mariadb[@]}" -e 'SELECT GROUP_CONCAT(LENGTH(b) ORDER BY id) FROM blobs')
	[[ "$lengths" == "67108864,67108864" ]] || ci_die "mariadb: unexpected blob lengths: $lengths"
	# Read one back over the wire.
	got=$("${mariadb[@]}" -e 'SELECT b FROM blobs WHERE id = 2' | wc -c)
	((got == 67108865)) || ci_die "mariadb: read back $got bytes, want 67108864 + newline"
	ci_log "mariadb: wrote and read back 64 MiB rows"
	# A wrong password must be refused.
	if MYSQL_PWD=wrong "${mariadb[@]}" -e 'SELECT 1' >/dev/null 2>&1; then
		ci_die "mariadb: a wrong password was accepted"
	fi
	;;
*)
	ci_die "usage: $0 postgres|mariadb"
	;;
esac

ci_log "$name image works"
