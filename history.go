package statebackend

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/internal/replicas"
	"github.com/taskstate/statebackend/repository"
	"github.com/taskstate/statebackend/state"
)

// AddHistory implements Backend.
func (s *Store) AddHistory(ctx context.Context, ids []InvocationID, h InvocationHistory) (err error) {
	c := s.begin(ctx, op.AddHistory)
	defer c.end(&err)
	c.tel.Batch(len(ids))
	if err := state.ValidateBatchIDs("ids", ids); err != nil {
		return err
	}
	if err := h.Validate("history"); err != nil {
		return err
	}
	if len(ids) == 0 {
		return c.check()
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows := make([]entities.History, len(ids))
	ts := state.ToMicros(h.Timestamp)
	for i, id := range ids {
		h.InvocationID = id
		rows[i] = entities.History{
			InvocationID:     entities.Key(id),
			HistoryTimestamp: ts,
			HistoryStatus:    entities.Key(h.StatusRecord.Status),
			HistoryJSON:      entities.Text(h.AppendJSON(make([]byte, 0, 256))),
		}
	}
	return c.writeHistory(func(db *gorm.DB) error {
		return s.repo.AddHistory(db, rows)
	}, rows)
}

// History implements Backend.
func (s *Store) History(ctx context.Context, id InvocationID) (_ []InvocationHistory, err error) {
	c := s.begin(ctx, op.History)
	defer c.end(&err)
	if err := id.Validate("id"); err != nil {
		return nil, err
	}
	var out []InvocationHistory
	var bad error // a stored record that does not decode: not the read's failure
	err = c.read(func(db *gorm.DB) (err error) {
		bad = nil
		out, err = repository.History(s.repo, db, string(id), func(rid entities.Serial, doc []byte) (h InvocationHistory) {
			if err := h.UnmarshalJSON(doc); err != nil && bad == nil {
				bad = malformedHistory(rid, err)
			}
			return h
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	if bad != nil {
		return nil, bad
	}
	c.tel.Returned(len(out))
	return out, nil
}

// HistoryInTimeRange implements Backend. Telemetry sees each page as a
// call of its own (see invalidRange and historyPage).
func (s *Store) HistoryInTimeRange(ctx context.Context, start, end time.Time, batchSize int) iter.Seq2[[]InvocationHistory, error] {
	return func(yield func([]InvocationHistory, error) bool) {
		if err := s.invalidRange(ctx, op.HistoryInTimeRange, start, end, batchSize); err != nil {
			yield(nil, err)
			return
		}
		lo, hi := firstMicro(start), state.ToMicros(end)
		var cur repository.HistoryCursor
		var rt replicas.Route
		for page := 1; ; page++ {
			batch, last, err := s.historyPage(ctx, &rt, page, lo, hi, cur, batchSize)
			if err != nil {
				yield(nil, err)
				return
			}
			if len(batch) == 0 {
				return
			}
			if !yield(batch, nil) || len(batch) < batchSize {
				return
			}
			cur = last
		}
	}
}

// historyPage reads page number page of HistoryInTimeRange, after cur,
// and returns its records and the cursor of its last row; rt routes the
// iteration's pages among the read replicas.
func (s *Store) historyPage(ctx context.Context, rt *replicas.Route, page int, lo, hi int64, cur repository.HistoryCursor, batchSize int) (_ []InvocationHistory, last repository.HistoryCursor, err error) {
	c := s.begin(ctx, op.HistoryInTimeRange)
	defer c.end(&err)
	c.tel.Page(page, batchSize)
	p := &historyPageRead{repo: s.repo, lo: lo, hi: hi, cur: cur, size: batchSize}
	if err := c.readReplica(rt, p.attempt); err != nil {
		return nil, last, err
	}
	c.tel.Returned(len(p.batch))
	if p.bad != nil {
		return nil, p.last, p.bad
	}
	return p.batch, p.last, nil
}

// historyPageRead is the read of a page of HistoryInTimeRange: up to size
// records in [lo, hi] after cur.
type historyPageRead struct {
	repo   repository.Repo
	lo, hi int64
	cur    repository.HistoryCursor
	size   int

	batch []InvocationHistory      // the records read
	last  repository.HistoryCursor // the cursor of the last row read
	// bad is the first record whose document does not decode, reported
	// once the page is read: a fault of the data and not of the read, it
	// neither retries the read nor counts against a replica.
	bad error
}

// attempt reads the page on db, each record decoded from the driver's
// buffer. It starts afresh, so that a retried attempt keeps nothing of the
// one before.
func (p *historyPageRead) attempt(db *gorm.DB) error {
	p.batch, p.last, p.bad = p.batch[:0], repository.HistoryCursor{}, nil
	return p.repo.HistoryPage(db, p.lo, p.hi, p.cur, p.size, func(id entities.Serial, ts int64, doc []byte) error {
		p.last = repository.HistoryCursor{Timestamp: ts, ID: id, Started: true}
		if p.batch == nil {
			p.batch = make([]InvocationHistory, 0, min(p.size, maxPagePrealloc))
		}
		p.batch = append(p.batch, InvocationHistory{})
		if p.bad == nil {
			if err := p.batch[len(p.batch)-1].UnmarshalJSON(doc); err != nil {
				p.bad = malformedHistory(id, err)
			}
		}
		return nil
	})
}

// InvocationIDsInTimeRange implements Backend. Telemetry sees each page as
// a call of its own (see invalidRange and invocationIDsPage).
func (s *Store) InvocationIDsInTimeRange(ctx context.Context, start, end time.Time, batchSize int) iter.Seq2[[]InvocationID, error] {
	return func(yield func([]InvocationID, error) bool) {
		if err := s.invalidRange(ctx, op.InvocationIDsInTimeRange, start, end, batchSize); err != nil {
			yield(nil, err)
			return
		}
		lo, hi := firstMicro(start), state.ToMicros(end)
		after, started := "", false
		var rt replicas.Route
		for page := 1; ; page++ {
			ids, err := s.invocationIDsPage(ctx, &rt, page, lo, hi, after, started, batchSize)
			if err != nil {
				yield(nil, err)
				return
			}
			if len(ids) == 0 {
				return
			}
			if !yield(ids, nil) || len(ids) < batchSize {
				return
			}
			after, started = string(ids[len(ids)-1]), true
		}
	}
}

// invocationIDsPage reads page number page of InvocationIDsInTimeRange,
// after the id after (when started); rt routes the iteration's pages among
// the read replicas.
func (s *Store) invocationIDsPage(ctx context.Context, rt *replicas.Route, page int, lo, hi int64, after string, started bool, batchSize int) (_ []InvocationID, err error) {
	c := s.begin(ctx, op.InvocationIDsInTimeRange)
	defer c.end(&err)
	c.tel.Page(page, batchSize)
	var ids []InvocationID
	err = c.readReplica(rt, func(db *gorm.DB) error {
		ids = ids[:0] // a retried attempt reads the page afresh
		return s.repo.InvocationIDsPage(db, lo, hi, after, started, batchSize, func(id string) {
			if ids == nil {
				ids = make([]InvocationID, 0, min(batchSize, maxPagePrealloc))
			}
			ids = append(ids, InvocationID(id))
		})
	})
	if err != nil {
		return nil, err
	}
	c.tel.Returned(len(ids))
	return ids, nil
}

// invalidRange validates the arguments of a time-range iterator. Telemetry
// sees one call for each page an iteration reads, which measures the
// backend's work and not the caller's loop body, and ends each span before
// the page is handed over; an iteration refused for its arguments is one
// call that failed.
func (s *Store) invalidRange(ctx context.Context, o op.Op, start, end time.Time, batchSize int) error {
	err := state.ValidateTimeRange(start, end, batchSize)
	if err != nil {
		c := s.begin(ctx, o)
		c.tel.Batch(batchSize)
		c.end(&err)
	}
	return err
}

// maxPagePrealloc bounds the records a time-range page allocates room for
// before it reads them: a page may be asked for more than there are.
const maxPagePrealloc = 1024

// malformedHistory is the error of a stored history record, id, whose
// document does not decode.
func malformedHistory(id entities.Serial, err error) error {
	return fmt.Errorf("statebackend: stored history record %d is malformed: %w", id, err)
}

// firstMicro is the first whole microsecond at or after start. Timestamps
// are stored truncated to the microsecond, so a record stored in start's
// microsecond but before start (a start with a sub-microsecond part) lies
// outside the range; truncating start as well would include it.
func firstMicro(start time.Time) int64 {
	us := state.ToMicros(start)
	if start.Nanosecond()%1000 != 0 {
		us++
	}
	return us
}
