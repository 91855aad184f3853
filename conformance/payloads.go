package conformance

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/taskstate/statebackend/state"
)

// payloadKind is results or exceptions: the two opaque payloads of an
// invocation, which follow the same rules.
type payloadKind struct {
	name string
	set  func(b state.Backend, ctx context.Context, id state.InvocationID, data []byte) error
	get  func(b state.Backend, ctx context.Context, id state.InvocationID) ([]byte, error)
}

var (
	resultKind    = payloadKind{"result", state.Backend.SetResult, state.Backend.Result}
	exceptionKind = payloadKind{"exception", state.Backend.SetException, state.Backend.Exception}
)

// mustSet stores data as the payload of id or fails the test.
func (k payloadKind) mustSet(t *testing.T, b state.Backend, id state.InvocationID, data []byte) {
	t.Helper()
	if err := k.set(b, ctx(t), id, data); err != nil {
		t.Fatalf("set %s of %q (%d bytes): %v", k.name, id, len(data), err)
	}
}

// want fails the test unless the payload of id is want, byte for byte.
func (k payloadKind) want(t *testing.T, b state.Backend, id state.InvocationID, want []byte) {
	t.Helper()
	got, err := k.get(b, ctx(t), id)
	if err != nil {
		t.Fatalf("get %s of %q: %v", k.name, id, err)
	}
	wantBytes(t, fmt.Sprintf("%s of %q", k.name, id), got, want)
}

// wantMissing fails the test unless id has no payload (ErrNotFound).
func (k payloadKind) wantMissing(t *testing.T, b state.Backend, id state.InvocationID) {
	t.Helper()
	got, err := k.get(b, ctx(t), id)
	wantErr(t, fmt.Sprintf("get %s of %q (got %d bytes)", k.name, id, len(got)), err, state.ErrNotFound)
}

// payloadTests returns the tests of group "payloads": results and
// exceptions, stored byte for byte.
func payloadTests() []Test {
	var tests []Test
	for _, k := range []payloadKind{resultKind, exceptionKind} {
		for _, c := range []struct {
			name string
			run  func(*testing.T, state.Backend, payloadKind)
		}{
			{"binary_round_trip", testPayloadBinary},
			{"random_1mib", testPayloadRandom},
			{"empty", testPayloadEmpty},
			{"overwrite_keeps_last", testPayloadOverwrite},
			{"missing_not_found", testPayloadMissing},
			{"never_upserted_id", testPayloadNeverUpserted},
			{"ids_byte_exact", testPayloadIDs},
			{"not_aliased", testPayloadNotAliased},
		} {
			tests = append(tests, Test{
				Group: "payloads",
				Name:  k.name + "_" + c.name,
				Run:   func(t *testing.T, h Harness) { c.run(t, open(t, h), k) },
			})
		}
	}
	return append(tests,
		Test{Group: "payloads", Name: "result_and_exception_independent", Run: testPayloadsIndependent},
		Test{Group: "payloads", Name: "result_64mib", Run: testPayloadLarge},
	)
}

// binaryPayloads are payloads that break text columns and naive encodings.
var binaryPayloads = map[string][]byte{
	"nul bytes":         {0, 'a', 0, 0, 'b', 0},
	"only nul":          {0},
	"invalid utf-8":     {0xff, 0xfe, 0xfd, 0x80, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xf8, 0x88, 0x80, 0x80, 0x80},
	"pickle-like":       []byte("\x80\x04\x95\x15\x00\x00\x00\x00\x00\x00\x00\x8c\x0bsome result\x94."),
	"json with escapes": []byte(`{"a":"\u0000\"\\","b":[1,2]}` + "\n\r\t"),
	"utf-8 text":        []byte("résumé 日本 😀 𝄞"),
	"trailing spaces":   []byte("value   "),
	"every byte":        everyByte(),
}

// everyByte returns the bytes 0 to 255, twice, the second time descending.
func everyByte() []byte {
	out := make([]byte, 512)
	for i := range 256 {
		out[i], out[511-i] = byte(i), byte(i)
	}
	return out
}

func testPayloadBinary(t *testing.T, b state.Backend, k payloadKind) {
	for name, data := range binaryPayloads {
		id := state.InvocationID("inv-" + name)
		k.mustSet(t, b, id, data)
		k.want(t, b, id, data)
	}
}

func testPayloadRandom(t *testing.T, b state.Backend, k payloadKind) {
	data := randomBytes(1<<20, 42)
	k.mustSet(t, b, "inv-1", data)
	k.want(t, b, "inv-1", data)
}

func testPayloadEmpty(t *testing.T, b state.Backend, k payloadKind) {
	for id, data := range map[state.InvocationID][]byte{"inv-empty": {}, "inv-nil": nil} {
		k.mustSet(t, b, id, data)
		got, err := k.get(b, ctx(t), id)
		if err != nil || len(got) != 0 {
			t.Fatalf("get %s of %q stored as %#v: got %d bytes, error %v; want 0 bytes and no error", k.name, id, data, len(got), err)
		}
	}
	// An empty payload replaces a non-empty one.
	k.mustSet(t, b, "inv-3", []byte("something"))
	k.mustSet(t, b, "inv-3", []byte{})
	k.want(t, b, "inv-3", []byte{})
}

func testPayloadOverwrite(t *testing.T, b state.Backend, k payloadKind) {
	k.mustSet(t, b, "inv-1", []byte("first, and longer than the second"))
	k.mustSet(t, b, "inv-1", []byte("second"))
	k.want(t, b, "inv-1", []byte("second"))
	k.mustSet(t, b, "inv-1", []byte("third\x00"))
	k.want(t, b, "inv-1", []byte("third\x00"))
}

func testPayloadMissing(t *testing.T, b state.Backend, k payloadKind) {
	k.wantMissing(t, b, "inv-unknown")
	k.mustSet(t, b, "inv-1", []byte("x"))
	mustUpsert(t, b, topLevel("inv-2", "f", nil)) // an invocation without payload
	for _, id := range []state.InvocationID{"inv-unknown", "inv-2", "inv-10", "INV-1", "inv-"} {
		k.wantMissing(t, b, id)
	}
}

func testPayloadNeverUpserted(t *testing.T, b state.Backend, k payloadKind) {
	data := []byte("some " + k.name)
	k.mustSet(t, b, "inv-abc", data)
	k.want(t, b, "inv-abc", data)
	_, err := b.Invocation(ctx(t), "inv-abc")
	wantErr(t, "Invocation(inv-abc) after setting its "+k.name, err, state.ErrNotFound)
}

func testPayloadIDs(t *testing.T, b state.Backend, k payloadKind) {
	ids := []state.InvocationID{"inv-A", "inv-a", "inv-a ", "inv-\u00e9", "inv-e\u0301", "inv-😀",
		state.InvocationID(string(bytes.Repeat([]byte("x"), state.MaxIDLen)))}
	for i, id := range ids {
		k.mustSet(t, b, id, []byte{byte(i)})
	}
	for i, id := range ids {
		k.want(t, b, id, []byte{byte(i)})
	}
}

func testPayloadNotAliased(t *testing.T, b state.Backend, k payloadKind) {
	buf := []byte("original")
	k.mustSet(t, b, "inv-1", buf)
	copy(buf, "MODIFIED")
	k.want(t, b, "inv-1", []byte("original"))
	got, err := k.get(b, ctx(t), "inv-1")
	if err != nil {
		t.Fatalf("get %s: %v", k.name, err)
	}
	copy(got, "MODIFIED")
	k.want(t, b, "inv-1", []byte("original"))
}

func testPayloadsIndependent(t *testing.T, h Harness) {
	b := open(t, h)
	resultKind.mustSet(t, b, "inv-r", []byte("result"))
	exceptionKind.wantMissing(t, b, "inv-r")
	exceptionKind.mustSet(t, b, "inv-e", []byte("exception"))
	resultKind.wantMissing(t, b, "inv-e")

	resultKind.mustSet(t, b, "inv-both", []byte("result 1"))
	exceptionKind.mustSet(t, b, "inv-both", []byte("exception 1"))
	resultKind.mustSet(t, b, "inv-both", []byte("result 2"))
	resultKind.want(t, b, "inv-both", []byte("result 2"))
	exceptionKind.want(t, b, "inv-both", []byte("exception 1"))
}

func testPayloadLarge(t *testing.T, h Harness) {
	if h.Features.NoLargePayloads {
		t.Skip("backend lacks large payloads (Features.NoLargePayloads)")
	}
	b := open(t, h)
	data := randomBytes(64<<20, 64)
	resultKind.mustSet(t, b, "inv-large", data)
	resultKind.want(t, b, "inv-large", data)
	resultKind.mustSet(t, b, "inv-large", []byte("small again"))
	resultKind.want(t, b, "inv-large", []byte("small again"))
}
