package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/taskstate/statebackend/state"
)

// Fixed seeds: every run and every impl sees the same ids and the same read
// sequences.
const (
	idSeed   = 20250115
	readSeed = 42
)

// Shape of the dataset: N invocations over 50 task ids, every tenth a
// top-level workflow and the rest its children.
const (
	taskCount      = 50
	workflowEvery  = 10 // every tenth invocation starts a top-level workflow
	historyPerInv  = 4  // registered, pending, running, success
	historyStepUs  = 10 // microseconds between consecutive history records
	resultPayloadN = 64 // bytes per stored result
)

var historyStatuses = [historyPerInv]state.Status{
	state.StatusRegistered, state.StatusPending, state.StatusRunning, state.StatusSuccess,
}

// baseTime is the timestamp of the first history record.
var baseTime = time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)

// dataset is N invocations over 50 task ids: every tenth a top-level
// workflow, the others its children, with arguments {"x": "<i>"}.
type dataset struct {
	n    int
	ids  []state.InvocationID
	invs []state.Invocation
}

func newDataset(n int) *dataset {
	rng := rand.New(rand.NewPCG(idSeed, idSeed))
	d := &dataset{n: n, ids: make([]state.InvocationID, n), invs: make([]state.Invocation, n)}
	for i := range n {
		d.ids[i] = state.InvocationID(uuid(rng))
	}
	for i := range n {
		task := state.TaskID{Module: "bench.tasks", FuncName: fmt.Sprintf("task_%02d", i%taskCount)}
		arg := strconv.Itoa(i)
		sum := sha256.Sum256([]byte(`{"x":"` + arg + `"}`))
		inv := state.Invocation{
			ID:        d.ids[i],
			CallID:    state.CallID{Task: task, ArgsID: hex.EncodeToString(sum[:])},
			Arguments: map[string]string{"x": arg},
		}
		if root := i - i%workflowEvery; root == i {
			inv.Workflow = state.WorkflowIdentity{WorkflowID: inv.ID, WorkflowType: task}
		} else {
			inv.Workflow = d.invs[root].Workflow
			inv.ParentInvocationID = d.ids[root]
		}
		d.invs[i] = inv
	}
	return d
}

// uuid returns a random version-4 UUID string drawn from rng.
func uuid(rng *rand.Rand) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// records is the number of history records: historyPerInv per invocation.
func (d *dataset) records() int { return d.n * historyPerInv }

// record returns history record j: record k of invocation j/4, with a
// timestamp that increases with j.
func (d *dataset) record(j int) (state.InvocationID, state.InvocationHistory) {
	i, k := j/historyPerInv, j%historyPerInv
	ts := baseTime.Add(time.Duration(j*historyStepUs) * time.Microsecond)
	h := state.InvocationHistory{
		InvocationID:    d.ids[i],
		Timestamp:       ts,
		StatusRecord:    state.StatusRecord{Status: historyStatuses[k], Timestamp: ts},
		RunnerContextID: "runner-ctx-" + strconv.Itoa(i%8),
	}
	if k >= 2 { // running and success have an owner
		h.StatusRecord.RunnerID = "runner-" + strconv.Itoa(i%8)
	}
	if k == 0 && d.invs[i].ParentInvocationID != "" {
		h.RegisteredByInvID = d.invs[i].ParentInvocationID
	}
	return d.ids[i], h
}

// timeRange returns the inclusive range that holds every history record:
// from the first record's timestamp to the last one's (see record).
func (d *dataset) timeRange() (start, end time.Time) {
	return baseTime, baseTime.Add(time.Duration((d.records()-1)*historyStepUs) * time.Microsecond)
}

// sizeOnly returns a dataset of the same size without its ids and
// invocations, for W6 and W8, which read only the size and the time range,
// so that a large dataset can be freed before them.
func (d *dataset) sizeOnly() *dataset { return &dataset{n: d.n} }

// result returns the result payload stored for invocation i.
func (d *dataset) result(i int) []byte {
	b := make([]byte, 0, resultPayloadN)
	b = append(b, "\x80\x04\x95result:"...)
	b = append(b, d.ids[i]...)
	for len(b) < resultPayloadN {
		b = append(b, '.')
	}
	return b
}

// readOrder returns n random indices into the dataset, the same sequence on
// every call.
func (d *dataset) readOrder() []int {
	rng := rand.New(rand.NewPCG(readSeed, readSeed))
	out := make([]int, d.n)
	for i := range out {
		out[i] = rng.IntN(d.n)
	}
	return out
}

// permutation returns the indices of the dataset in a random order, the
// same on every call.
func (d *dataset) permutation() []int {
	return rand.New(rand.NewPCG(readSeed, readSeed+1)).Perm(d.n)
}

// sample returns a few indices to spot-check: the first, the last and some
// in between, the same on every call.
func (d *dataset) sample() []int {
	rng := rand.New(rand.NewPCG(readSeed, readSeed+2))
	out := []int{0, d.n - 1}
	for range 30 {
		out = append(out, rng.IntN(d.n))
	}
	return out
}
