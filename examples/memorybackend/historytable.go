package memorybackend

import (
	"cmp"
	"slices"
	"sort"

	"github.com/taskstate/statebackend/state"
)

// position is where a record sorts: by timestamp, then by insertion
// sequence number. The last position of a batch is the cursor of the
// time-range iterators.
type position struct {
	micros int64 // the timestamp in microseconds since the epoch
	seq    uint64
}

// compare orders positions by (timestamp, seq).
func (p position) compare(q position) int {
	return cmp.Or(cmp.Compare(p.micros, q.micros), cmp.Compare(p.seq, q.seq))
}

// historyRow is one stored history record.
type historyRow struct {
	position
	rec state.InvocationHistory
}

// historyKey identifies a record for deduplication: writing the same
// (invocation, timestamp, status) again replaces the record.
type historyKey struct {
	id     state.InvocationID
	micros int64
	status state.Status
}

// historyTable stores history records with the two indexes the operations
// need, the way a SQL table would.
type historyTable struct {
	nextSeq uint64
	// byTime holds every record ordered by (timestamp, seq): the index the
	// time-range iterators binary-search.
	byTime []*historyRow
	// byInvocation holds each invocation's records in the same order.
	byInvocation map[state.InvocationID][]*historyRow
	// byKey finds the record a new one replaces.
	byKey map[historyKey]*historyRow
}

func newHistoryTable() *historyTable {
	return &historyTable{
		byInvocation: make(map[state.InvocationID][]*historyRow),
		byKey:        make(map[historyKey]*historyRow),
	}
}

// add stores rec (already normalized) and reports whether it is a new
// record. A record with the same key is replaced in place: the new content
// keeps the old record's position.
func (t *historyTable) add(rec state.InvocationHistory) bool {
	micros := state.ToMicros(rec.Timestamp)
	key := historyKey{rec.InvocationID, micros, rec.StatusRecord.Status}
	if old, ok := t.byKey[key]; ok {
		old.rec = rec
		return false
	}
	t.nextSeq++
	row := &historyRow{position: position{micros, t.nextSeq}, rec: rec}
	t.byKey[key] = row
	t.byTime = insertSorted(t.byTime, row)
	t.byInvocation[rec.InvocationID] = insertSorted(t.byInvocation[rec.InvocationID], row)
	return true
}

// of returns a copy of the records of id, in order.
func (t *historyTable) of(id state.InvocationID) []state.InvocationHistory {
	rows := t.byInvocation[id]
	out := make([]state.InvocationHistory, len(rows))
	for i, row := range rows {
		out[i] = row.rec
	}
	return out
}

// page returns copies of up to limit records with a timestamp in [lo, hi]
// that sort after the position after (all of them when after is nil), and
// the position of the last one: one step of keyset pagination.
func (t *historyTable) page(lo, hi int64, after *position, limit int) ([]state.InvocationHistory, position) {
	// Start at the first row at or after lo or, past the first page, at the
	// first row after the cursor, whichever comes later.
	i := sort.Search(len(t.byTime), func(i int) bool { return t.byTime[i].micros >= lo })
	if after != nil {
		j := sort.Search(len(t.byTime), func(j int) bool { return t.byTime[j].compare(*after) > 0 })
		i = max(i, j)
	}
	var out []state.InvocationHistory
	var last position
	for ; i < len(t.byTime) && len(out) < limit && t.byTime[i].micros <= hi; i++ {
		out = append(out, t.byTime[i].rec)
		last = t.byTime[i].position
	}
	return out, last
}

// idsPage returns up to limit invocation ids, ascending, with a record in
// [lo, hi]; with after set, only ids greater than *after.
func (t *historyTable) idsPage(lo, hi int64, after *state.InvocationID, limit int) []state.InvocationID {
	var ids []state.InvocationID
	for id, rows := range t.byInvocation {
		if after != nil && id <= *after {
			continue
		}
		// rows are ordered by timestamp: find the first at or after lo.
		i := sort.Search(len(rows), func(i int) bool { return rows[i].micros >= lo })
		if i < len(rows) && rows[i].micros <= hi {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	return ids
}

// insertSorted inserts row into rows, keeping (timestamp, seq) order. A new
// row has the largest seq, so it goes after every row with its timestamp.
func insertSorted(rows []*historyRow, row *historyRow) []*historyRow {
	i, _ := slices.BinarySearchFunc(rows, row, func(a, b *historyRow) int {
		return a.compare(b.position)
	})
	return slices.Insert(rows, i, row)
}
