package statebackend

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/repository"
	"github.com/taskstate/statebackend/state"
)

// The Store follows changes through the changes table that the database
// appends to in each write's transaction (see package migrations, version
// 4): a watch reads it by id.
var _ state.Watcher = (*Store)(nil)

// DefaultPollInterval is how often a following watch reads the changes
// table when its WatchRequest leaves PollInterval at 0.
const DefaultPollInterval = 100 * time.Millisecond

// changesPerRead bounds the changes one read of a watch returns.
const changesPerRead = 1000

// changeCursorPrefix starts every change cursor this package makes: the
// cursor format's version.
const changeCursorPrefix = "c1."

// changeCursor returns the cursor of the change with id.
func changeCursor(id int64) state.ChangeCursor {
	return state.ChangeCursor(changeCursorPrefix + strconv.FormatInt(id, 10))
}

// decodeChangeCursor returns the change id c holds, 0 for the empty
// cursor.
func decodeChangeCursor(c state.ChangeCursor) (int64, error) {
	if c == "" {
		return 0, nil
	}
	digits, ok := strings.CutPrefix(string(c), changeCursorPrefix)
	id, err := strconv.ParseInt(digits, 10, 64)
	if !ok || err != nil || id < 1 || strconv.FormatInt(id, 10) != digits {
		return 0, state.Invalid("req.After", fmt.Sprintf("%q is not a change cursor of this backend", truncate(string(c), 64)))
	}
	return id, nil
}

// truncate returns s cut to at most n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// LatestChange implements state.Watcher. On databases whose transactions
// commit out of id order (Postgres, MySQL), it waits until every
// transaction in flight when it read the newest id has ended, so that no
// change that commits after it returns has an id at or below the cursor.
func (s *Store) LatestChange(ctx context.Context) (_ state.ChangeCursor, err error) {
	c := s.begin(ctx, op.LatestChange)
	defer c.end(&err)
	if err := s.watchable(); err != nil {
		return "", err
	}
	var latest int64
	var inFlight dialect.InFlight
	err = c.read(func(db *gorm.DB) (err error) {
		if s.commits.Check != nil {
			if err := s.commits.Check(c.ctx, db); err != nil {
				return err
			}
		}
		if latest, err = s.repo.LatestChangeID(db); err != nil {
			return err
		}
		if s.commits.InIDOrder || latest == 0 {
			return nil
		}
		inFlight, err = s.commits.InFlight(c.ctx, db)
		return err
	})
	if err != nil || latest == 0 {
		return "", err
	}
	if !s.commits.InIDOrder {
		if err := s.waitEnded(c, inFlight); err != nil {
			return "", err
		}
	}
	return changeCursor(latest), nil
}

// waitEnded waits until every transaction of f has ended.
func (s *Store) waitEnded(c call, f dialect.InFlight) error {
	wait := time.Millisecond
	for {
		var done bool
		err := c.read(func(db *gorm.DB) (err error) {
			done, err = s.commits.Ended(c.ctx, db, f)
			return err
		})
		if err != nil || done {
			return err
		}
		if err := sleep(c.ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// watchable fails when the database does not say how its transactions
// commit, which the feed needs to miss nothing.
func (s *Store) watchable() error {
	if !s.commits.Watchable() {
		return fmt.Errorf("statebackend: watching changes: the %s dialector does not say how its transactions commit (dialect.Commits)", s.dialectName)
	}
	return nil
}

// Watch implements state.Watcher.
//
// A watch reads the changes after its position in id order. On SQLite ids
// become visible in commit order, so every change read is delivered. On
// Postgres and MySQL a transaction takes its ids when it writes and
// commits later, in any order: a watch that reads ids 5 and 7 does not
// know whether 6 is yet to commit or never will. It delivers 5, then
// stops at the gap and notes the transactions in flight (after the read,
// so the one that took 6 is among them); once they have all ended it
// reads again, and an id still missing below the largest id of the first
// read belongs to a transaction that rolled back, or to none (a sequence
// value taken by a failed statement): it passes it. An open transaction
// therefore holds back the changes committed after it, never loses them.
func (s *Store) Watch(ctx context.Context, req state.WatchRequest) iter.Seq2[state.Change, error] {
	return func(yield func(state.Change, error) bool) {
		w, err := s.newWatch(ctx, req)
		if err != nil {
			yield(state.Change{}, err)
			return
		}
		if err := w.run(yield); err != nil {
			yield(state.Change{}, err)
		}
	}
}

// watch is one Watch call's position and what it waits for.
type watch struct {
	s      *Store
	ctx    context.Context
	req    state.WatchRequest
	filter changeFilter
	// after is the id of the last change read (delivered or filtered out).
	after int64
	// until, without Follow, is the newest id when the watch started: the
	// watch ends once it has passed it.
	until int64
	// gap is set while the watch waits for the transactions in flight
	// when it found ids missing after after, below gap.below.
	gap *gapWait
}

// gapWait is a gap the watch waits to settle: ids missing below below
// are settled once every transaction of inFlight has ended.
type gapWait struct {
	below    int64
	inFlight dialect.InFlight
	settled  bool
}

func (s *Store) newWatch(ctx context.Context, req state.WatchRequest) (*watch, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	after, err := decodeChangeCursor(req.After)
	if err != nil {
		return nil, err
	}
	if err := s.watchable(); err != nil {
		return nil, err
	}
	w := &watch{s: s, ctx: ctx, req: req, filter: newChangeFilter(req.Filter), after: after}
	if after == 0 || s.commits.Check != nil {
		c := s.begin(ctx, op.Watch)
		err = c.read(func(db *gorm.DB) (err error) {
			if s.commits.Check != nil {
				if err := s.commits.Check(c.ctx, db); err != nil {
					return err
				}
			}
			if after == 0 {
				// The empty cursor starts before the oldest change kept.
				w.after, err = s.repo.ChangesExpiredThrough(db)
			}
			return err
		})
		c.end(&err)
		if err != nil {
			return nil, err
		}
	}
	if !req.Follow {
		latest, err := s.LatestChange(ctx)
		if err != nil {
			return nil, err
		}
		if latest != "" {
			w.until, _ = decodeChangeCursor(latest)
		}
	}
	return w, nil
}

// run delivers changes until the watch is done, the consumer stops, or
// an error, which it returns.
func (w *watch) run(yield func(state.Change, error) bool) error {
	interval := cmp0(w.req.PollInterval, DefaultPollInterval)
	var wait, gapWait time.Duration
	var n *notifier
	if w.req.Follow && w.s.listen != nil {
		// Subscribed before the first read: a commit after it wakes the
		// watch.
		n = w.s.newNotifier(w.ctx)
		defer n.stop()
		n.ensure()
	}
	for {
		if !w.req.Follow && w.after >= w.until {
			return nil
		}
		rows, pass, err := w.read()
		if err != nil {
			return err
		}
		progressed := false
		for _, r := range rows {
			progressed = true
			w.after = r.ID
			if r.Kind == repository.PlaceholderKind || !w.filter.match(r) {
				continue
			}
			ch, err := changeOf(r)
			if err != nil {
				return err
			}
			if !yield(ch, nil) {
				return nil
			}
		}
		if pass > w.after {
			w.after, progressed = pass, true
		}
		switch {
		case progressed && len(rows) == changesPerRead:
			wait = 0 // more to read at once
		case w.gap != nil:
			// Transactions in flight hold back the next changes: they
			// mostly end within milliseconds, so look again soon, then
			// less and less often.
			if progressed || gapWait == 0 {
				gapWait = time.Millisecond
			} else {
				gapWait = min(2*gapWait, interval)
			}
			wait = gapWait
		default:
			wait, gapWait = interval, 0
		}
		if !w.req.Follow && w.after >= w.until {
			return nil
		}
		switch {
		case wait > 0 && n != nil:
			if err := n.wait(wait); err != nil {
				return err
			}
		case wait > 0:
			if err := sleep(w.ctx, wait); err != nil {
				return err
			}
		default:
			if err := w.ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// notifier wakes a following watch when the database signals a commit
// that recorded changes. A notification only makes the watch read sooner:
// reading is what delivers, so a lost notification (a dropped connection,
// a restarted server) costs one poll interval, never a change.
type notifier struct {
	s      *Store
	ctx    context.Context
	wake   chan struct{}
	l      dialect.Listener
	cancel context.CancelFunc
	done   chan struct{} // closed when the pump ends
	// retryAt is when to subscribe again after a failure.
	retryAt time.Time
}

func (s *Store) newNotifier(ctx context.Context) *notifier {
	return &notifier{s: s, ctx: ctx, wake: make(chan struct{}, 1)}
}

// ensure subscribes when the notifier is not subscribed (first, or after
// its connection failed), at most once a second.
func (n *notifier) ensure() {
	if n.l != nil {
		select {
		case <-n.done:
			n.release()
		default:
			return
		}
	}
	if time.Now().Before(n.retryAt) {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	l, err := n.s.listen(ctx, n.s.sqlDB, n.s.repo.Tables.Name("Change"))
	cancel()
	if err != nil {
		n.retryAt = time.Now().Add(time.Second)
		if n.ctx.Err() == nil {
			n.s.log.Warn("watching changes: not notified of commits, polling", "error", err)
		}
		return
	}
	pumpCtx, stop := context.WithCancel(n.ctx)
	n.l, n.cancel, n.done = l, stop, make(chan struct{})
	go n.pump(pumpCtx, l, n.done)
}

// pump turns notifications into wake-ups until ctx ends or the listener
// fails.
func (n *notifier) pump(ctx context.Context, l dialect.Listener, done chan struct{}) {
	defer close(done)
	for {
		if err := l.Wait(ctx); err != nil {
			if ctx.Err() == nil {
				n.s.log.Warn("watching changes: notifications stopped, reading and subscribing again", "error", err)
				// Wake the watch: it reads what it may have missed being
				// told of, and subscribes again.
				select {
				case n.wake <- struct{}{}:
				default:
				}
			}
			return
		}
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
}

// wait waits for a notification, for d, or until the watch's context
// ends.
func (n *notifier) wait(d time.Duration) error {
	n.ensure()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-n.ctx.Done():
		return n.ctx.Err()
	case <-t.C:
	case <-n.wake:
	}
	return nil
}

// release ends the subscription and waits for its pump.
func (n *notifier) release() {
	n.cancel()
	<-n.done
	if err := n.l.Close(); err != nil && n.ctx.Err() == nil {
		n.s.log.Debug("watching changes: closing the listener", "error", err)
	}
	n.l = nil
}

// stop releases the subscription, if any.
func (n *notifier) stop() {
	if n.l != nil {
		n.release()
	}
}

// cmp0 returns a unless it is zero, then b.
func cmp0(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

// read returns the changes after w.after that can be delivered now, in
// order: a run of consecutive ids, passing the gaps known to be settled.
// It fails with ErrCursorExpired when retention deleted changes after
// w.after.
func (w *watch) read() (rows []repository.ChangeRow, pass int64, err error) {
	s := w.s
	c := s.begin(w.ctx, op.Watch)
	defer c.end(&err)
	var expired int64
	var n int
	err = c.read(func(db *gorm.DB) (err error) {
		pass = 0
		if g := w.gap; g != nil && !g.settled {
			if g.settled, err = s.commits.Ended(c.ctx, db, g.inFlight); err != nil {
				return err
			}
		}
		if rows, err = s.repo.ChangesAfter(db, w.after, changesPerRead); err != nil {
			return err
		}
		// Read after the changes: a prune that deleted some of them
		// before the read has moved the mark by now.
		if expired, err = s.repo.ChangesExpiredThrough(db); err != nil {
			return err
		}
		if s.commits.InIDOrder {
			n = len(rows)
			return nil
		}
		var settled int64
		if w.gap != nil && w.gap.settled {
			settled = w.gap.below
		}
		n, pass = deliverable(w.after, rows, settled)
		if g := w.gap; g != nil && (g.settled || n > 0 && rows[n-1].ID >= g.below) {
			w.gap = nil // every id up to its bound is delivered or passed
		}
		if n < len(rows) && w.gap == nil {
			// Ids are missing before rows[n]: note the transactions in
			// flight now, after the read.
			f, err := s.commits.InFlight(c.ctx, db)
			if err != nil {
				return err
			}
			w.gap = &gapWait{below: rows[len(rows)-1].ID, inFlight: f}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	rows = rows[:n]
	if w.after < expired {
		return nil, 0, fmt.Errorf("statebackend: watching changes after %s: retention deleted changes up to %s: %w",
			changeCursor(w.after), changeCursor(expired), state.ErrCursorExpired)
	}
	return rows, pass, nil
}

// deliverable returns how many of rows (ids ascending, all above after)
// a watch at after can deliver now: a run of consecutive ids from
// after+1, where ids at or below settled (0: none) may be missing, their
// transactions having ended without them. pass, when not 0, is the id the
// watch moves to after delivering those rows: every id up to settled is
// then delivered or known never to commit.
func deliverable(after int64, rows []repository.ChangeRow, settled int64) (n int, pass int64) {
	next := after + 1
	for ; n < len(rows); n++ {
		if id := rows[n].ID; id != next && !(next <= settled && id <= settled+1) {
			break
		}
		next = rows[n].ID + 1
	}
	if next <= settled {
		pass = settled
	}
	return n, pass
}

// changeOf converts a row of the changes table.
func changeOf(r repository.ChangeRow) (state.Change, error) {
	ch := state.Change{
		Cursor:       changeCursor(r.ID),
		Kind:         state.ChangeKind(r.Kind),
		InvocationID: state.InvocationID(r.InvocationID),
		WorkflowID:   state.InvocationID(r.WorkflowID),
	}
	if r.TaskIDKey != "" {
		task, err := state.ParseTaskID(r.TaskIDKey)
		if err != nil {
			return state.Change{}, fmt.Errorf("statebackend: stored task key %q is malformed: %w", r.TaskIDKey, err)
		}
		ch.Task = task
	}
	if ch.Kind == state.ChangeHistory {
		ch.Status = state.Status(r.Status)
		ch.Timestamp = state.FromMicros(r.StatusTimestamp)
	}
	return ch, nil
}

// changeFilter is a state.ChangeFilter in the form rows are matched with.
type changeFilter struct {
	kinds, invocations, tasks, statuses []string
	workflow                            string
}

func newChangeFilter(f state.ChangeFilter) changeFilter {
	cf := changeFilter{workflow: string(f.WorkflowID)}
	for _, k := range f.Kinds {
		cf.kinds = append(cf.kinds, string(k))
	}
	for _, id := range f.Invocations {
		cf.invocations = append(cf.invocations, string(id))
	}
	for _, t := range f.Tasks {
		cf.tasks = append(cf.tasks, t.Key())
	}
	for _, st := range f.Statuses {
		cf.statuses = append(cf.statuses, string(st))
	}
	return cf
}

// match reports whether r passes every set field of f.
func (f changeFilter) match(r repository.ChangeRow) bool {
	in := func(set []string, v string) bool { return len(set) == 0 || slices.Contains(set, v) }
	if len(f.statuses) > 0 && r.Kind != string(state.ChangeHistory) {
		return false
	}
	return in(f.kinds, r.Kind) && in(f.invocations, r.InvocationID) && in(f.tasks, r.TaskIDKey) &&
		in(f.statuses, r.Status) && (f.workflow == "" || f.workflow == r.WorkflowID)
}
