package reliability_test

import (
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/taskstate/statebackend"
)

// Deterministic test data: every value is a function of the run's seed and
// the writer's coordinates, so the parent of a multi-process test computes
// what each child wrote without being told.

// rng returns a generator determined by seed and name.
func rng(seed uint64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// fragments are the pieces random text is made of: plain words, quoting and
// SQL metacharacters, LIKE wildcards, escapes, JSON syntax and multi-byte
// UTF-8.
var fragments = []string{
	"a", "task", "42", " ", "'", `"`, `\`, "%", "_", ";", "--", "/*", "*/",
	"{", "}", "[", "]", ":", ",", "null", "\n", "\t", "\r", "\u2028", "é", "日本",
	"🚀", "\u00a0", "DROP TABLE x;", "' OR '1'='1", "\\u0000", "<>&", "\x7f",
}

// text returns a random valid UTF-8 string without NUL bytes, up to max
// fragments long.
func text(r *rand.Rand, max int) string {
	var b strings.Builder
	for n := r.IntN(max + 1); n > 0; n-- {
		b.WriteString(fragments[r.IntN(len(fragments))])
	}
	return b.String()
}

// payload returns random bytes, any value including NUL and invalid UTF-8,
// up to max bytes long (sometimes empty).
func payload(r *rand.Rand, max int) []byte {
	b := make([]byte, r.IntN(max+1))
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// arguments returns a random arguments map of up to 5 entries (sometimes
// nil, which reads back as an empty map).
func arguments(r *rand.Rand) map[string]string {
	n := r.IntN(6)
	if n == 0 {
		if r.IntN(2) == 0 {
			return nil
		}
		return map[string]string{}
	}
	args := make(map[string]string, n)
	for i := range n {
		args["arg"+strconv.Itoa(i)+text(r, 2)] = text(r, 12)
	}
	return args
}

// invocation returns a deterministic invocation with id. It belongs to
// workflow root (itself when root == id) and has version v folded into its
// arguments, so two versions of one id differ.
func invocation(seed uint64, id, root statebackend.InvocationID, v int) statebackend.Invocation {
	r := rng(seed, "inv/"+string(id)+"/"+strconv.Itoa(v))
	task := statebackend.TaskID{Module: "reliability.tasks" + strconv.Itoa(r.IntN(3)), FuncName: "fn" + strconv.Itoa(r.IntN(5))}
	argsID := "v" + strconv.Itoa(v) + "-" + strconv.FormatUint(r.Uint64(), 16)
	if r.IntN(8) == 0 {
		argsID = statebackend.NoArgs + "-v" + strconv.Itoa(v)
	}
	args := arguments(r)
	inv := statebackend.Invocation{
		ID:        id,
		CallID:    statebackend.CallID{Task: task, ArgsID: argsID},
		Arguments: args,
		Workflow:  statebackend.WorkflowIdentity{WorkflowID: root, WorkflowType: task},
	}
	if root != id {
		inv.ParentInvocationID = root
		inv.Workflow.WorkflowType = statebackend.TaskID{Module: "reliability.workflows", FuncName: "root"}
	}
	return inv
}

// normalized returns inv as a backend reads it back: nil arguments become
// an empty map.
func normalized(inv statebackend.Invocation) statebackend.Invocation {
	if inv.Arguments == nil {
		inv.Arguments = map[string]string{}
	}
	return inv
}

// result returns the deterministic result payload of id.
func result(seed uint64, id statebackend.InvocationID) []byte {
	return payload(rng(seed, "result/"+string(id)), 2048)
}
