#!/bin/bash
# Entrypoint of the statebackend-ci/mariadb:10.11 test image (built by
# .ci/images/build.sh from Debian's mariadb-server package). It mimics the
# official mariadb image closely enough for testcontainers-go's mariadb
# module. Environment (MARIADB_* wins over the MYSQL_* alias):
#
#   MARIADB_ROOT_PASSWORD / MYSQL_ROOT_PASSWORD           root password
#   MARIADB_ALLOW_EMPTY_ROOT_PASSWORD / MYSQL_ALLOW_EMPTY_PASSWORD
#                                                         allow no root password
#   MARIADB_RANDOM_ROOT_PASSWORD / MYSQL_RANDOM_ROOT_PASSWORD
#                                                         generate (and log) one
#   MARIADB_DATABASE / MYSQL_DATABASE                     database to create
#   MARIADB_USER / MYSQL_USER                             user to create ('%' host)
#   MARIADB_PASSWORD / MYSQL_PASSWORD                     that user's password
#   /docker-entrypoint-initdb.d/*.sh|*.sql  run once, after the user is created
#
# One of the three root-password variables is required, as in the official
# image. The user gets ALL privileges on the database (as in the official
# image), so it can create and drop tables there.
#
# On first start it runs mariadb-install-db, starts a temporary server with
# --skip-networking (it logs "port: 0"), creates root@'%', the database and
# the user, stops it, and then execs mariadbd on 0.0.0.0:3306.
#
# Readiness: the official image's server logs
#   "... ready for connections ... port: 3306  mariadb.org binary distribution"
# and testcontainers-go's mariadb module waits for exactly
# "port: 3306  mariadb.org binary distribution". Debian's build prints its
# own compilation comment instead, so a small watcher prints that marker
# line once the real server answers on TCP port 3306.
#
# Server settings for tests live in /etc/mysql/mariadb.conf.d/99-ci.cnf;
# files in /etc/mysql/conf.d/ (testcontainers' WithConfigFile) are read after
# it and win. Arguments: like the official image, `mariadbd [--flag ...]`
# (the default CMD) runs the server, a first argument starting with "-" is a
# server flag, and anything else is exec'd as is.
set -euo pipefail

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

log() { echo "entrypoint: $*" >&2; }

if (($# == 0)) || [[ "$1" == -* ]]; then
	set -- mariadbd "$@"
fi
if [[ "$1" != mariadbd && "$1" != mysqld ]]; then
	exec "$@"
fi
shift # the remaining arguments are server flags

# As root: prepare directories, then re-run this script as the mysql user.
if [[ "$(id -u)" == 0 ]]; then
	mkdir -p "$DATADIR" /run/mysqld
	chown -R mysql:mysql "$DATADIR" /run/mysqld
	exec setpriv --reuid=mysql --regid=mysql --init-groups "$0" mariadbd "$@"
fi

# sql_quote STRING: prints STRING as a single-quoted SQL string literal.
sql_quote() {
	local s=${1//\\/\\\\}
	printf "'%s'" "${s//\'/\'\'}"
}

# sql_ident NAME: prints NAME as a backquoted SQL identifier.
sql_ident() {
	# shellcheck disable=SC2016 # literal backquotes
	printf '`%s`' "${1//\`/\`\`}"
}

# MARIADB_* variables win over their MYSQL_* aliases.
root_password=${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}
allow_empty=${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-${MYSQL_ALLOW_EMPTY_PASSWORD:-}}
random_root=${MARIADB_RANDOM_ROOT_PASSWORD:-${MYSQL_RANDOM_ROOT_PASSWORD:-}}
database=${MARIADB_DATABASE:-${MYSQL_DATABASE:-}}
user=${MARIADB_USER:-${MYSQL_USER:-}}
password=${MARIADB_PASSWORD:-${MYSQL_PASSWORD:-}}

if [[ ! -d "$DATADIR/mysql" ]]; then
	if [[ -n "$random_root" && -z "$root_password" ]]; then
		root_password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
		log "GENERATED ROOT PASSWORD: $root_password"
	fi
	if [[ -z "$root_password" && -z "$allow_empty" ]]; then
		log "database is uninitialized and no root password option is set:"
		log "set MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD or MARIADB_RANDOM_ROOT_PASSWORD"
		exit 1
	fi
	if [[ -n "$user" && -z "$password" && "$user" != root ]]; then
		log "MARIADB_USER is set but MARIADB_PASSWORD is empty"
		exit 1
	fi

	log "initializing the data directory"
	mariadb-install-db --datadir="$DATADIR" --auth-root-authentication-method=normal \
		--skip-test-db --skip-name-resolve >/dev/null

	# Temporary server: unix socket only, so nobody can connect over TCP
	# before the users exist.
	log "starting a temporary server (socket only)"
	mariadbd --skip-networking --socket="$SOCKET" --skip-log-bin "$@" &
	temp_pid=$!
	deadline=$((SECONDS + 120))
	until mariadb-admin --socket="$SOCKET" --user=root ping >/dev/null 2>&1; do
		if ! kill -0 "$temp_pid" 2>/dev/null || ((SECONDS > deadline)); then
			log "the temporary server did not come up"
			exit 1
		fi
		sleep 0.2
	done

	# Build the setup SQL. Values are quoted with sql_quote/sql_ident; the
	# statements are not written to the binary log.
	sql="SET @@SESSION.SQL_LOG_BIN=0;"
	# Keep only root@localhost and the system accounts, like the official image.
	sql+="DELETE FROM mysql.global_priv WHERE user NOT IN ('mysql', 'mariadb.sys', 'root') OR host NOT IN ('localhost');"
	sql+="DELETE FROM mysql.proxies_priv WHERE host NOT IN ('localhost');"
	sql+="FLUSH PRIVILEGES;"
	sql+="SET PASSWORD FOR 'root'@'localhost' = PASSWORD($(sql_quote "$root_password"));"
	sql+="CREATE USER 'root'@'%' IDENTIFIED BY $(sql_quote "$root_password");"
	sql+="GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
	if [[ -n "$database" ]]; then
		sql+="CREATE DATABASE IF NOT EXISTS $(sql_ident "$database");"
	fi
	if [[ -n "$user" && "$user" != root ]]; then
		sql+="CREATE USER $(sql_quote "$user")@'%' IDENTIFIED BY $(sql_quote "$password");"
		if [[ -n "$database" ]]; then
			sql+="GRANT ALL ON $(sql_ident "$database").* TO $(sql_quote "$user")@'%';"
		fi
	elif [[ "$user" == root ]]; then
		log "MARIADB_USER=root ignored: root is created from MARIADB_ROOT_PASSWORD"
	fi
	mariadb --socket="$SOCKET" --user=root --batch <<<"$sql"

	# From here on root has its password; pass it in a defaults file so it
	# does not show up in `ps`.
	client_cnf=$(mktemp)
	printf '[client]\nuser=root\npassword=%s\nsocket=%s\n' "$root_password" "$SOCKET" >"$client_cnf"
	for f in /docker-entrypoint-initdb.d/*; do
		[[ -e "$f" ]] || continue
		case "$f" in
		*.sh) log "running $f"; bash "$f" ;;
		*.sql) log "running $f"; mariadb --defaults-extra-file="$client_cnf" ${database:+"$database"} <"$f" ;;
		*) log "ignoring $f" ;;
		esac
	done
	rm -f "$client_cnf"

	log "stopping the temporary server"
	kill "$temp_pid"
	wait "$temp_pid" || true
	log "MariaDB init process done. Ready for start up."
fi

# Watcher: print the line testcontainers waits for once the real server
# answers on TCP. It runs as a child of this process, i.e. of mariadbd after
# the exec below, and gives up when the server exits. It pings as root with
# the configured password (via MYSQL_PWD, so it is not visible in `ps`);
# `mariadb-admin ping` exits 0 as soon as the server replies, even when the
# login is refused, so this also works after a password change.
server_pid=$$
(
	export MYSQL_PWD="$root_password"
	while kill -0 "$server_pid" 2>/dev/null; do
		if mariadb-admin --no-defaults --protocol=tcp --host=127.0.0.1 --port=3306 \
			--user=root --connect-timeout=1 ping >/dev/null 2>&1; then
			echo "entrypoint: mariadbd ready for connections. port: 3306  mariadb.org binary distribution (compatibility marker for testcontainers; this is Debian's build)"
			exit 0
		fi
		sleep 0.2
	done
) &

exec mariadbd "$@"
