#!/bin/bash
# Runs CI (.ci/run) on a copy of the repository's HEAD while CPU-bound
# processes compete for the machine, to find the tests that depend on how
# fast a goroutine, a process or a server is. A test that passes on a quiet
# machine and fails here waits for a state with a sleep or a short
# timeout, or asserts a duration: see CONTRIBUTING.md.
#
#     scripts/ci-under-load.sh           # or: make ci-load
#     BURNERS=4 scripts/ci-under-load.sh # more competition
#
# It clones HEAD (what is committed, not the working tree) into a fresh
# temporary directory, starts BURNERS (default 2) busy loops, runs
# `CI=true bash .ci/run` in the clone, stops the busy loops whatever
# happens, and reports whether CI passed and how long it took. The clone is
# removed when CI passes, and kept for inspection when it fails. The exit
# status is .ci/run's.
#
# Like .ci/run, it runs as root (CI installs packages and starts Docker);
# it takes 10 to 25 minutes on 2 cores.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
burners=${BURNERS:-2}

log() { printf '[ci-load %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

[[ "$burners" =~ ^[0-9]+$ ]] || { log "BURNERS=$burners: want a number"; exit 2; }
[[ "$(id -u)" == 0 ]] || { log "run as root: .ci/run installs packages and starts Docker"; exit 2; }

head=$(git -C "$repo" rev-parse HEAD)
if [[ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]]; then
	log "note: uncommitted changes are not tested; the run tests HEAD ($head)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/statebackend-ci-load-XXXXXX")
pids=()
status=1

# finish: stops the busy loops, and removes the clone unless CI failed.
finish() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if ((status == 0)); then
		rm -rf "$work"
	else
		log "the clone is kept in $work"
	fi
}
trap finish EXIT
# Interrupted, still clean up (bash runs the EXIT trap on exit).
trap 'exit 130' INT TERM HUP

log "cloning $head into $work/repo"
git clone --quiet --no-checkout "$repo" "$work/repo"
git -C "$work/repo" checkout --quiet --detach "$head"

for ((i = 0; i < burners; i++)); do
	(while :; do :; done) &
	pids+=($!)
done
log "started $burners CPU burners (pids ${pids[*]:-none}) on $(nproc) cores"

start=$SECONDS
log "running CI=true bash .ci/run in the clone"
set +e
(cd "$work/repo" && CI=true bash .ci/run)
status=$?
set -e
took=$((SECONDS - start))

if ((status == 0)); then
	log "PASS: CI passed beside $burners CPU burners in $((took / 60))m$((took % 60))s ($head)"
else
	log "FAIL: CI failed (exit $status) beside $burners CPU burners after $((took / 60))m$((took % 60))s ($head)"
fi
exit "$status"
