package state

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestCanonicalDecoderAgrees checks the fast decoder against encoding/json
// on records written by AppendJSON, and that it declines other layouts.
func TestCanonicalDecoderAgrees(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "inv-1", "runner \"quoted\"", "emoji 🚀", "tab\there", "back\\slash", "<html>&"}
	for i := range 2000 {
		h := InvocationHistory{
			InvocationID:      InvocationID(strs[rng.IntN(len(strs))]),
			Timestamp:         time.UnixMicro(rng.Int64N(1<<52) - 1<<50).UTC(),
			StatusRecord:      StatusRecord{Status: Statuses()[rng.IntN(14)], RunnerID: strs[rng.IntN(len(strs))], Timestamp: time.Unix(rng.Int64N(1<<33), 0).UTC()},
			RunnerContextID:   strs[rng.IntN(len(strs))],
			RegisteredByInvID: InvocationID(strs[rng.IntN(len(strs))]),
		}
		if i%3 == 0 {
			h.Timestamp = h.Timestamp.Truncate(time.Second)
		}
		doc := h.AppendJSON(nil)
		var fast InvocationHistory
		fastOK := decodeCanonical(doc, &fast)
		var slow InvocationHistory
		if err := decodeGeneric(doc, &slow); err != nil {
			t.Fatalf("generic decode of %s: %v", doc, err)
		}
		if !reflect.DeepEqual(slow, h) {
			t.Fatalf("generic decode of %s:\n got %+v\nwant %+v", doc, slow, h)
		}
		if fastOK && !reflect.DeepEqual(fast, h) {
			t.Fatalf("fast decode of %s:\n got %+v\nwant %+v", doc, fast, h)
		}
	}
	for _, doc := range []string{
		`{"invocation_id": "a", "_timestamp": "2025-01-15T12:10:00+00:00"}`,
		`{"invocation_id":"a","_timestamp":"2025-04-31T12:10:00+00:00","status_record":{"status":"running","runner_id":null,"timestamp":"2025-01-15T12:10:00+00:00"},"runner_context_id":"r","registered_by_inv_id":null}`,
		`{"invocation_id":"a","_timestamp":"2025-01-15T12:10:00Z","status_record":{"status":"running","runner_id":null,"timestamp":"2025-01-15T12:10:00+00:00"},"runner_context_id":"r","registered_by_inv_id":null}`,
		`{"invocation_id":"a","_timestamp":"2025-01-15T12:10:00+00:00","status_record":{"status":"nope","runner_id":null,"timestamp":"2025-01-15T12:10:00+00:00"},"runner_context_id":"r","registered_by_inv_id":null}`,
	} {
		var h InvocationHistory
		if decodeCanonical([]byte(doc), &h) {
			t.Errorf("fast decoder accepted non-canonical %s", doc)
		}
	}
}
