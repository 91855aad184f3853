package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/taskstate/statebackend/state"
)

func (c *cli) historyCommand() *cobra.Command {
	var from, to, out string
	var batch int
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Stream the history records of a time range as JSON lines",
		Long: `history writes the history records whose timestamp is in [--from, --to] (both
inclusive), oldest first, one JSON document per line in pynenc's form,
whatever --output says. It streams them page by page, in constant memory
however many there are.

Times are ISO 8601 (2025-01-15T12:00:00Z, 2025-01-15 12:00:00+02:00; no zone
means UTC), "now", or a duration before now ("-24h", "-90m", "-7d", "-2w";
m is minutes, and there is no month or year unit).
Without --from the range starts at the earliest time, without --to it ends
at the latest.`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now().UTC()
			start, err := parseTime("--from", from, now, minTime)
			if err != nil {
				return err
			}
			end, err := parseTime("--to", to, now, maxTime)
			if err != nil {
				return err
			}
			if end.Before(start) {
				return usageErrorf("--to %s is before --from %s", state.FormatTimestamp(end), state.FormatTimestamp(start))
			}
			if batch < 1 {
				return usageErrorf("--batch %d: give a positive number of records", batch)
			}
			return c.history(cmd.Context(), start, end, batch, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "start of the range (default: the earliest time)")
	f.StringVar(&to, "to", "", "end of the range (default: the latest time)")
	f.IntVar(&batch, "batch", 1000, "records read per page")
	f.StringVar(&out, "out", "", "write to this file instead of stdout (with a progress bar on a terminal)")
	return cmd
}

// parseTime reads a --from or --to value; empty gives def.
func parseTime(flag, s string, now, def time.Time) (time.Time, error) {
	switch {
	case s == "":
		return def, nil
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "-"):
		d, problem := durationValue(s[1:])
		switch problem {
		case "":
			return now.Add(-d), nil
		case badDuration:
			return time.Time{}, usageErrorf("%s %q: give an ISO 8601 time, \"now\" or a duration before now such as -24h or -7d (%s)", flag, s, durationHelp)
		}
		return time.Time{}, usageErrorf("%s %q: %s", flag, s, problem)
	}
	t, err := state.ParseTimestamp(s)
	if err != nil {
		return time.Time{}, usageErrorf("%s %q: give an ISO 8601 time (2025-01-15T12:00:00Z), \"now\" or a duration such as -24h", flag, s)
	}
	return t, nil
}

func (c *cli) history(ctx context.Context, start, end time.Time, batch int, outPath string) (err error) {
	u, err := c.dbURL()
	if err != nil {
		return err
	}
	cn, err := c.open(ctx, u, c.appID, readExisting)
	if err != nil {
		return err
	}
	defer cn.Close()
	var w io.Writer = c.stdout
	prog := &progress{}
	if outPath != "" {
		f, err := os.Create(outPath)
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		defer func() {
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("--out: %w", cerr)
			}
		}()
		w = f
		if c.stderrIsTerminal() {
			total, err := countHistory(ctx, cn, start, end)
			if err != nil {
				return err
			}
			prog = c.newProgress(total, "history", "records")
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	line := make([]byte, 0, 512)
	var written int64
	var last time.Time
	c.onInterrupt = func() string {
		where := "the output"
		if outPath != "" {
			where = outPath
		}
		if written == 0 {
			return "nothing was written; run it again"
		}
		at := state.FormatTimestamp(last)
		return fmt.Sprintf("%s holds the first %d records, whole, up to %s; to continue, run it again with --from '%s' (the records at that time come again)",
			where, written, at, at)
	}
	for recs, err := range cn.backend.HistoryInTimeRange(ctx, start, end, batch) {
		if err != nil {
			if ctx.Err() != nil {
				// Interrupted: leave the records read so far, each whole.
				_ = bw.Flush()
			}
			return err
		}
		for _, h := range recs {
			line = append(h.AppendJSON(line[:0]), '\n')
			if _, err := bw.Write(line); err != nil {
				return err
			}
		}
		written += int64(len(recs))
		last = recs[len(recs)-1].Timestamp
		prog.add(len(recs))
	}
	prog.done()
	return bw.Flush()
}

// countHistory counts the records in [start, end], for the progress bar.
func countHistory(ctx context.Context, cn *conn, start, end time.Time) (int64, error) {
	var n int64
	err := cn.db.WithContext(ctx).Table(cn.tables.Name("History")).
		Where("history_timestamp >= ? AND history_timestamp <= ?", state.ToMicros(start), state.ToMicros(end)).
		Count(&n).Error
	return n, err
}
