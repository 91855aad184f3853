#!/bin/bash
# Starts what the integration tests need and prints the environment for them:
# a running Docker engine and the local database images (built from Debian
# packages the first time, see images/build.sh). Use it as
#
#     eval "$(bash .ci/services.sh)"
#
# stdout carries only `export` lines; all diagnostics go to stderr.
# Idempotent: a second run finds Docker up and the images built (~1 s).
set -euo pipefail

ci_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$ci_dir/lib.sh"

ci_start_docker

# build.sh prints the image name on stdout and logs on stderr.
postgres_image=$(bash "$ci_dir/images/build.sh" postgres)
mysql_image=$(bash "$ci_dir/images/build.sh" mariadb)

# STATEBACKEND_TEST_REQUIRE makes the suite fail instead of skipping when a
# database is unavailable.
cat <<EOF
export STATEBACKEND_TEST_POSTGRES_IMAGE=$postgres_image
export STATEBACKEND_TEST_MYSQL_IMAGE=$mysql_image
export STATEBACKEND_TEST_REQUIRE=postgres,mysql
EOF
ci_log "services ready: $postgres_image, $mysql_image"
