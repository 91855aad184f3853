package main

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/repository"
	"github.com/taskstate/statebackend/state"
)

func (c *cli) copyCommand() *cobra.Command {
	var from, to string
	var batch int
	cmd := &cobra.Command{
		Use:   "copy --from URL --to URL",
		Short: "Copy the state of one app between databases (resumable, verified)",
		Long: `copy copies the state of the app chosen by --app from one database to another
(any of SQLite, Postgres, MySQL/MariaDB), table by table in key-ordered
batches, through the library. The target's tables are created if missing.

It is idempotent and resumable: rows already in the target with the same
content are skipped, so running copy again after a crash, a kill or Ctrl-C
completes the copy without writing twice; WRITTEN counts the rows it wrote
(0 for every table when the target already matched). History, whose ids differ between databases,
is written by its natural key (invocation, timestamp, status), in the
source's order, and resumes from the newest record the target has.

At the end it verifies that every table of the target has the source's rows
and checksum (an order-independent hash of each row's content), and fails if
not. The target should hold no other state for the app.`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "from", "to"); err != nil {
				return err
			}
			if batch < 1 {
				return usageErrorf("--batch %d: give a positive number of rows", batch)
			}
			src, err := c.parseURL("--from", from)
			if err != nil {
				return err
			}
			dst, err := c.parseURL("--to", to)
			if err != nil {
				return err
			}
			// A copy reads each page once: memory-mapping the files
			// would only make its resident memory grow with them.
			src.noMemoryMap, dst.noMemoryMap, dst.bulkWrites = true, true, true
			if src.shown == dst.shown {
				return usageErrorf("--from and --to name the same database (%s)", src.shown)
			}
			c.onInterrupt = func() string {
				return "what it copied so far is committed, not yet verified; run the same copy again to resume: " +
					"it writes only what the target lacks, then verifies"
			}
			return c.copy(cmd.Context(), src, dst, batch)
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "source database URL")
	f.StringVar(&to, "to", "", "target database URL (created if missing)")
	f.IntVar(&batch, "batch", 1000, "rows read and written per batch")
	return cmd
}

// copyReport is what copy and import-pynenc print.
type copyReport struct {
	From     string        `json:"from"`
	To       string        `json:"to"`
	App      string        `json:"app_id"`
	Tables   []tableReport `json:"tables"`
	Verified bool          `json:"verified"`
}

// tableReport is one table of a copy: the rows of the source, how many
// the copy wrote (fewer on a rerun), the checksum both sides have.
type tableReport struct {
	Table    string `json:"table"`
	Rows     int64  `json:"rows"`
	Written  int64  `json:"written"`
	Checksum string `json:"checksum"`
}

func (c *cli) copy(ctx context.Context, from, to dbURL, batch int) error {
	srcConn, err := c.open(ctx, from, c.appID, readExisting)
	if err != nil {
		return err
	}
	defer srcConn.Close()
	dstConn, err := c.open(ctx, to, c.appID, createMissing)
	if err != nil {
		return err
	}
	defer dstConn.Close()
	rep, err := c.transfer(ctx, libSource{srcConn}, dstConn, batch, true)
	if err != nil {
		return err
	}
	rep.From, rep.To = from.shown, to.shown
	return c.printCopy("copied", rep)
}

// transfer moves every table of src into dst and verifies the result.
// resumeHistory lets the history start from the newest record dst has.
func (c *cli) transfer(ctx context.Context, src source, dst *conn, batch int, resumeHistory bool) (copyReport, error) {
	defer collectLess()()
	rep := copyReport{App: dst.appID}
	specs := keyedTables()
	var total int64
	for _, t := range specs {
		n, err := src.count(ctx, t)
		if err != nil {
			return rep, err
		}
		total += n
	}
	nh, err := src.countHistory(ctx, maxMicros+1)
	if err != nil {
		return rep, err
	}
	total += nh
	prog := c.newProgress(total, "copying", "rows")
	defer prog.done()

	repo := repository.New(dst.tables, repository.Config{})
	defer repo.Close()
	w := &writer{dst: dst.backend, repo: repo, db: dst.db, transient: dialect.Of(dst.db.Dialector).Transient, runners: map[string][]any{}}
	rep.Tables = make([]tableReport, len(specs)+1)
	// g runs the copy, and each table's verification once its rows are
	// written, while the next table is copied.
	g, ctx := errgroup.WithContext(ctx)
	keyed := func(specs []*tableSpec, out []tableReport) error {
		for i, t := range specs {
			if t.model == "RunnerContext" {
				if err := loadAll(ctx, src, t, batch, func(v []any) { w.runners[v[0].(string)] = v }); err != nil {
					return err
				}
			}
			tr, verify, err := c.syncTable(ctx, src, dst, w, t, batch, prog)
			if err != nil {
				return err
			}
			out[i] = tr
			g.Go(verify)
		}
		return nil
	}
	history := func() (err error) {
		rep.Tables[len(specs)], err = c.syncHistory(ctx, src, dst, batch, prog, resumeHistory)
		return err
	}
	g.Go(func() error {
		// Runner contexts and invocations first, for the readers of a
		// half-copied target: the other tables refer to them.
		first := slices.IndexFunc(specs, func(t *tableSpec) bool { return t.model == "Invocation" }) + 1
		if err := keyed(specs[:first], rep.Tables); err != nil {
			return err
		}
		if dst.url.kind != "sqlite" {
			// A server writes the history, whose rows cost it the most
			// (its triggers keep the current statuses and the changes),
			// on one connection while the other tables go on another.
			g.Go(func() error { return keyed(specs[first:], rep.Tables[first:len(specs)]) })
			return history()
		}
		// One writer at a time: SQLite takes one.
		if err := keyed(specs[first:], rep.Tables[first:]); err != nil {
			return err
		}
		return history()
	})
	if err := g.Wait(); err != nil {
		return rep, err
	}
	rep.Verified = true
	return rep, nil
}

// bulkGCPercent is the garbage collector's target (GOGC) while a copy or
// an import runs, unless GOGC is set. What they allocate is pages that
// live until written: at the default of 100, collecting took a fifth of
// a copy's CPU time; at 400 the copy needs about a third less CPU and
// 20-35 MiB more memory, still bounded by the pages in flight, not by
// the database's size.
const bulkGCPercent = 400

// collectLess sets the garbage collector's target to bulkGCPercent unless
// the environment sets GOGC, and returns what restores it.
func collectLess() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(bulkGCPercent)
	return func() { debug.SetGCPercent(old) }
}

// pages yields the rows of t in key order, batch rows a page.
func pages(ctx context.Context, src source, t *tableSpec, batch int) iter.Seq2[[][]any, error] {
	return func(yield func([][]any, error) bool) {
		var after []any
		for {
			rows, err := src.page(ctx, t, after, batch)
			if err != nil {
				yield(nil, err)
				return
			}
			if len(rows) == 0 || !yield(rows, nil) || len(rows) < batch {
				return
			}
			after = rows[len(rows)-1][:t.nkeys]
		}
	}
}

// prefetch yields what seq yields, reading one item ahead in another
// goroutine: the next page is read while the caller writes this one.
func prefetch[T any](ctx context.Context, seq iter.Seq2[T, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		type item struct {
			v   T
			err error
		}
		ch := make(chan item, 1)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ch)
			for v, err := range seq {
				select {
				case ch <- item{v, err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
		defer wg.Wait()
		defer cancel()
		for it := range ch {
			if !yield(it.v, it.err) {
				return
			}
		}
	}
}

// loadAll calls fn with every row of t.
func loadAll(ctx context.Context, src source, t *tableSpec, batch int, fn func([]any)) error {
	for rows, err := range prefetch(ctx, pages(ctx, src, t, batch)) {
		if err != nil {
			return err
		}
		for _, v := range rows {
			fn(v)
		}
	}
	return nil
}

// syncTable copies the rows of t that dst lacks or holds differently, page
// by page in key order, and returns what verifies the copy: a check of
// dst's checksum against src's. Into a table that was empty when the copy
// came to it, every row is written without reading the target first.
func (c *cli) syncTable(ctx context.Context, src source, dst *conn, w *writer, t *tableSpec, batch int, prog *progress) (tableReport, func() error, error) {
	name := dst.tables.Name(t.model)
	tr := tableReport{Table: name}
	target := libSource{dst}
	prog.describe(progressLabel(name))
	// The first row in key order, if any: cheaper than a count.
	some, err := target.page(ctx, t, nil, 1)
	if err != nil {
		return tr, nil, err
	}
	held := len(some) > 0
	var want checksum
	for rows, err := range prefetch(ctx, pages(ctx, src, t, batch)) {
		if err != nil {
			return tr, nil, err
		}
		todo, err := rowsToWrite(ctx, target, t, rows, held, &want)
		if err != nil {
			return tr, nil, err
		}
		if len(todo) > 0 {
			if err := w.retry(ctx, func() error { return t.write(ctx, w, todo) }); err != nil {
				return tr, nil, fmt.Errorf("write %s: %w", name, err)
			}
		}
		tr.Written += int64(len(todo))
		prog.add(len(rows))
		c.log.Debug("copied page", "table", name, "rows", len(rows), "written", len(todo))
	}
	tr.Rows, tr.Checksum = want.rows, want.String()
	return tr, func() error {
		var got checksum
		err := loadAll(ctx, target, t, batch, func(v []any) {
			if cv, cerr := t.canon(v); cerr == nil {
				got.add(cv)
			}
		})
		if err != nil {
			return err
		}
		return verify(name, want, got)
	}, nil
}

// rowsToWrite adds the rows of a source page to want and returns those
// the target lacks or holds differently; with compare false (the target's
// table was empty) that is every row, and the target is not read.
func rowsToWrite(ctx context.Context, target libSource, t *tableSpec, rows [][]any, compare bool, want *checksum) ([][]any, error) {
	name := target.cn.tables.Name(t.model)
	var held map[string][]byte
	if compare {
		have, err := target.pageRange(ctx, t, rows[0][:t.nkeys], rows[len(rows)-1][:t.nkeys])
		if err != nil {
			return nil, err
		}
		held = make(map[string][]byte, len(have))
		for _, v := range have {
			cv, err := t.canon(v)
			if err != nil {
				return nil, fmt.Errorf("target %s: %w", name, err)
			}
			held[keyString(v[:t.nkeys])] = cv
		}
	}
	todo := rows[:0:0]
	for _, v := range rows {
		cv, err := t.canon(v)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", name, err)
		}
		want.add(cv)
		if !compare || !bytes.Equal(held[keyString(v[:t.nkeys])], cv) {
			todo = append(todo, v)
		}
	}
	return todo, nil
}

// syncHistory copies the history in the source's order, each page
// atomically through the library's HistoryImporter, then verifies it. On
// a rerun it starts at the newest timestamp the target holds: every record
// before it was committed with an earlier page. If the verification fails
// after such a resumed pass, one full pass follows. The source's checksum
// is summed as its records are copied (and, when resuming, over the
// records before the resumed range), so the source is read once. Into an
// empty history every record is written without reading the target first.
func (c *cli) syncHistory(ctx context.Context, src source, dst *conn, batch int, prog *progress, resume bool) (tableReport, error) {
	name := dst.tables.Name("History")
	tr := tableReport{Table: name}
	imp := dst.backend
	target := libSource{dst}
	prog.describe(progressLabel(name))
	newest, held, err := target.maxHistoryMicros(ctx)
	if err != nil {
		return tr, err
	}
	from := minMicros
	var want checksum
	if resume && held {
		from = newest
		skipped, err := src.countHistory(ctx, from)
		if err != nil {
			return tr, err
		}
		prog.skip(int(skipped))
		c.log.Info("resuming history", "table", name, "from", state.FormatTimestamp(state.FromMicros(from)), "skipped", skipped)
		if from > minMicros {
			if want, err = historySum(ctx, src, minMicros, from-1, batch); err != nil {
				return tr, err
			}
		}
	}
	for recs, err := range prefetch(ctx, src.history(ctx, from, batch)) {
		if err != nil {
			return tr, err
		}
		for _, h := range recs {
			want.add(historyCanon(h))
		}
		todo := recs
		if held {
			if todo, err = historyToWrite(ctx, dst, recs, batch); err != nil {
				return tr, fmt.Errorf("target %s: %w", name, err)
			}
		}
		if len(todo) > 0 {
			if err := imp.ImportHistory(ctx, todo); err != nil {
				return tr, fmt.Errorf("write %s: %w", name, err)
			}
		}
		tr.Written += int64(len(todo))
		prog.add(len(recs))
		c.log.Debug("copied page", "table", name, "rows", len(recs), "written", len(todo))
	}
	got, err := historySum(ctx, target, minMicros, maxMicros, batch)
	if err != nil {
		return tr, err
	}
	tr.Rows, tr.Checksum = want.rows, want.String()
	if err := verify(name, want, got); err != nil {
		if from == minMicros {
			return tr, err
		}
		c.log.Info("resumed history differs from the source; copying it whole", "err", err)
		return c.syncHistory(ctx, src, dst, batch, &progress{}, false)
	}
	return tr, nil
}

// historyToWrite returns the records of recs (a page of the source, in
// timestamp order) that dst lacks or holds differently, in recs' order:
// those the page's import would write. A record's key is its invocation,
// timestamp and status, as in ImportHistory's upsert; the target's records
// in the page's time range are read to compare.
func historyToWrite(ctx context.Context, dst *conn, recs []statebackend.InvocationHistory, batch int) ([]statebackend.InvocationHistory, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	type key struct {
		id     statebackend.InvocationID
		us     int64
		status statebackend.Status
	}
	keyOf := func(h statebackend.InvocationHistory) key {
		return key{h.InvocationID, state.ToMicros(h.Timestamp), h.StatusRecord.Status}
	}
	// The page's time range: pynenc's pages are in the order of its own
	// timestamps, which may differ from the records'.
	first, last := recs[0].Timestamp, recs[0].Timestamp
	for _, h := range recs[1:] {
		if h.Timestamp.Before(first) {
			first = h.Timestamp
		}
		if h.Timestamp.After(last) {
			last = h.Timestamp
		}
	}
	held := map[key][]byte{}
	for have, err := range dst.backend.HistoryInTimeRange(ctx, first, last, batch) {
		if err != nil {
			return nil, err
		}
		for _, h := range have {
			held[keyOf(h)] = historyCanon(h)
		}
	}
	if len(held) == 0 {
		return recs, nil
	}
	var todo []statebackend.InvocationHistory
	for _, h := range recs {
		if cv, ok := held[keyOf(h)]; !ok || !bytes.Equal(cv, historyCanon(h)) {
			todo = append(todo, h)
		}
	}
	return todo, nil
}

// historySum checksums the history records of s with a timestamp in
// [fromMicros, toMicros].
func historySum(ctx context.Context, s source, fromMicros, toMicros int64, batch int) (checksum, error) {
	var sum checksum
	for recs, err := range prefetch(ctx, s.history(ctx, fromMicros, batch)) {
		if err != nil {
			return sum, err
		}
		for _, h := range recs {
			us := state.ToMicros(h.Timestamp)
			if us > toMicros {
				// Bounded sums read a library's history, in timestamp
				// order: the rest is later still.
				return sum, nil
			}
			if us >= fromMicros {
				sum.add(historyCanon(h))
			}
		}
	}
	return sum, nil
}

// verify compares the source's and the target's checksums of a table.
func verify(table string, want, got checksum) error {
	switch {
	case got.rows > want.rows:
		return fmt.Errorf("verify %s: the target has %d rows, the source %d: the target held other state for this app; purge it first or copy into another app", table, got.rows, want.rows)
	case got.rows < want.rows:
		return fmt.Errorf("verify %s: the target has %d rows, the source %d (was the source written to during the copy? run copy again)", table, got.rows, want.rows)
	case got != want:
		return fmt.Errorf("verify %s: the target's rows differ from the source's (checksums %s, %s); run copy again", table, got, want)
	}
	return nil
}

// progressLabel names the table being copied on the progress bar.
func progressLabel(table string) string {
	return "copying " + strings.TrimPrefix(table[strings.LastIndex(table, "__")+1:], "_")
}

// keyString joins key values into a map key (keys never hold NUL).
func keyString(key []any) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = fmt.Sprint(k)
	}
	return strings.Join(parts, "\x00")
}

func (c *cli) printCopy(verb string, rep copyReport) error {
	if c.output == "json" {
		return writeJSON(c.stdout, rep)
	}
	fmt.Fprintf(c.stdout, "%s %s from %s to %s\n\n", verb, appName(rep.App), rep.From, rep.To)
	t := newTable(c.stdout, "TABLE", "ROWS", "WRITTEN", "CHECKSUM")
	for _, tb := range rep.Tables {
		t.row(tb.Table, fmt.Sprint(tb.Rows), fmt.Sprint(tb.Written), tb.Checksum[:16])
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "\nverified: every table of the target has the source's rows and checksum")
	return nil
}
