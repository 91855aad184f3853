#!/bin/sh
# Reproduces the SQLite tables of BENCHMARKS.md: every workload for both
# impls, RUNS runs at N invocations, then the W6/W8 scaling check at 10 x N,
# summarized by cmd/benchtable (medians, gorm/raw ratios, targets), with
# the access pattern of pynenc's SQLite state backend measured right after
# (scripts/pynenc_baseline.py, SQLite only, BASELINE=0 skips it). Then
# W10 (many writers) and W11 (W3, W4, W6, W8 on tables of W11_N
# invocations, alternately with tables of W11_BASE_N), and PNG charts of
# every *.jsonl in $OUT by cmd/benchchart (other JSON lines of the same
# format dropped there, such as a baseline measured elsewhere, are charted
# with them).
#
#   scripts/bench.sh                  # RUNS=5 N=20000, results in $OUT (default ${TMPDIR:-/tmp}/statebench-results)
#   RUNS=1 N=2000 SCALE=0 W10=0 W11=0 scripts/bench.sh   # quick look, no scaling check, W10 or W11
#   W10_DURATION=3s W11_N=50000 scripts/bench.sh          # shorter W10 levels, smaller W11 tables
#
# Other dialects: DIALECT=postgres (or mysql) with
# STATEBACKEND_BENCH_POSTGRES_DSN (or ..._MYSQL_DSN) set.
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
N=${N:-20000}
SCALE=${SCALE:-1}
W10=${W10:-1}
W10_DURATION=${W10_DURATION:-10s}
W11=${W11:-1}
W11_N=${W11_N:-500000}
W11_BASE_N=${W11_BASE_N:-50000}
CHARTS=${CHARTS:-1}
BASELINE=${BASELINE:-1}
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
BASELINE_LINES=
if [ "$BASELINE" = 1 ] && [ "$DIALECT" = sqlite ]; then
	python3 scripts/pynenc_baseline.py "$N" >"$OUT/pynenc-python.jsonl"
	BASELINE_LINES="$OUT/pynenc-python.jsonl"
fi
if [ "$SCALE" = 1 ]; then
	# W6 and W8 at N and at 10 x N (history preloaded in bulk, untimed).
	"$OUT/statebench" -dialect "$DIALECT" -workloads W6,W8 -n "$N" >"$OUT/$DIALECT-scaling.jsonl"
	"$OUT/statebench" -dialect "$DIALECT" -workloads W6,W8 -n $((N * 10)) >>"$OUT/$DIALECT-scaling.jsonl"
	"$OUT/benchtable" "$OUT/$DIALECT.jsonl" $BASELINE_LINES
	"$OUT/benchtable" "$OUT/$DIALECT-scaling.jsonl" | sed -n '/^### Scaling/,$p'
else
	"$OUT/benchtable" "$OUT/$DIALECT.jsonl" $BASELINE_LINES
fi
if [ "$W10" = 1 ]; then
	# One line per (mode, writers): see the W10 chart or the JSON lines.
	"$OUT/statebench" -dialect "$DIALECT" -workloads W10 -w10-duration "$W10_DURATION" >"$OUT/$DIALECT-writers.jsonl"
fi
if [ "$W11" = 1 ]; then
	"$OUT/statebench" -dialect "$DIALECT" -workloads W11 -w11-base-n "$W11_BASE_N" -w11-n "$W11_N" >"$OUT/$DIALECT-large.jsonl"
	"$OUT/benchtable" "$OUT/$DIALECT-large.jsonl"
fi
if [ "$CHARTS" = 1 ]; then
	go build -o "$OUT/benchchart" ./cmd/benchchart
	"$OUT/benchchart" -out "$OUT/charts" "$OUT"/*.jsonl
fi
