#!/bin/sh
# Reproduces the SQLite tables of BENCHMARKS.md: every workload for both
# impls, RUNS runs at N invocations, then the W6/W8 scaling check at 10 x N,
# summarized by cmd/benchtable (medians, gorm/raw ratios, targets).
#
#   scripts/bench.sh                  # RUNS=5 N=20000, results in $OUT (default ${TMPDIR:-/tmp}/statebench-results)
#   RUNS=1 N=2000 SCALE=0 scripts/bench.sh   # quick look, no scaling check
#
# Other dialects: DIALECT=postgres (or mysql) with
# STATEBACKEND_BENCH_POSTGRES_DSN (or ..._MYSQL_DSN) set.
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
N=${N:-20000}
SCALE=${SCALE:-1}
DIALECT=${DIALECT:-sqlite}
OUT=${OUT:-${TMPDIR:-/tmp}/statebench-results}
mkdir -p "$OUT"
go build -o "$OUT/statebench" ./cmd/statebench
go build -o "$OUT/benchtable" ./cmd/benchtable
{
	echo "# $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "# nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo || true); $(uptime)"
} >"$OUT/machine.txt"
"$OUT/statebench" -dialect "$DIALECT" -runs "$RUNS" -n "$N" >"$OUT/$DIALECT.jsonl"
if [ "$SCALE" = 1 ]; then
	# W6 and W8 at N and at 10 x N (history preloaded in bulk, untimed).
	"$OUT/statebench" -dialect "$DIALECT" -workloads W6,W8 -n "$N" >"$OUT/$DIALECT-scaling.jsonl"
	"$OUT/statebench" -dialect "$DIALECT" -workloads W6,W8 -n $((N * 10)) >>"$OUT/$DIALECT-scaling.jsonl"
	"$OUT/benchtable" "$OUT/$DIALECT.jsonl"
	"$OUT/benchtable" "$OUT/$DIALECT-scaling.jsonl" | sed -n '/^### Scaling/,$p'
else
	"$OUT/benchtable" "$OUT/$DIALECT.jsonl"
fi
