package conformance

import (
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// purgeTests returns the tests of group "purge".
func purgeTests() []Test {
	tests := []Test{
		{Name: "removes_every_kind_of_data", Run: testPurgeRemovesEverything},
		{Name: "backend_works_after_purge", Run: testPurgeThenReuse},
		{Name: "empty_backend", Run: testPurgeEmpty},
		{Name: "app_no_longer_discovered", Run: testPurgeDiscover},
	}
	for i := range tests {
		tests[i].Group = "purge"
	}
	return tests
}

func testPurgeRemovesEverything(t *testing.T, h Harness) {
	b := open(t, h)
	ds := newDataset("a")
	ds.write(t, b)
	ds.check(t, b) // so that what follows means something
	noErr(t, "Purge", b.Purge(ctx(t)))
	ds.checkAbsent(t, b)
}

func testPurgeThenReuse(t *testing.T, h Harness) {
	b := open(t, h)
	first := newDataset("a")
	first.write(t, b)
	noErr(t, "Purge", b.Purge(ctx(t)))
	// The same ids again, with other contents: nothing of the first write
	// (unique keys, history records, parent chains) is left in the way.
	second := newDataset("b")
	second.write(t, b)
	second.check(t, b)
	_, err := b.Invocation(ctx(t), first.own.ID)
	wantNotFound(t, "Invocation(own id of the purged data)", err)
	// History keeps its order after a purge: a record added now at an
	// earlier time sorts first.
	early := record(state.StatusRegistered, baseTime.Add(-time.Second))
	mustAddHistory(t, b, early, second.root.ID)
	want := append([]state.InvocationHistory{stored(second.root.ID, early)}, second.historyOf(second.root.ID)...)
	wantHistory(t, "History(root) after adding an earlier record", mustHistory(t, b, second.root.ID), want)
}

func testPurgeEmpty(t *testing.T, h Harness) {
	b := open(t, h)
	noErr(t, "Purge of an empty backend", b.Purge(ctx(t)))
	noErr(t, "Purge again", b.Purge(ctx(t)))
	ds := newDataset("a")
	ds.checkAbsent(t, b)
	ds.write(t, b)
	ds.check(t, b)
}

func testPurgeDiscover(t *testing.T, h Harness) {
	appID := NewAppID()
	b := h.Open(t, appID)
	info := fullAppInfo(appID)
	noErr(t, "StoreAppInfo", b.StoreAppInfo(ctx(t), info))
	noErr(t, "Purge", b.Purge(ctx(t)))
	all, err := b.DiscoverAppInfos(ctx(t))
	noErr(t, "DiscoverAppInfos", err)
	if got, ok := all[appID]; ok {
		t.Fatalf("DiscoverAppInfos after Purge still lists app %q: %+v", appID, got)
	}
}
