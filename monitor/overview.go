package monitor

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/taskstate/statebackend/state"
)

// Bounds of the overview.
const (
	maxAppsShown      = 50
	maxTaskRowsShown  = 200
	recentFailures    = 10
	chartWidth        = 720
	chartHeight       = 180
	chartLeft         = 48
	chartBottom       = 22
	chartTop          = 8
	chartRight        = 8
	throughputMinutes = 60
	throughputHours   = 24
)

type appRow struct {
	AppID, Module, AppVariable, ModuleFile string
}

type statusCount struct {
	Status state.Status
	Count  string
	URL    string
}

type taskCounts struct {
	Task, TaskURL string
	// Cells has one entry per status of the table's columns; Count is
	// empty where the task has none.
	Cells []statusCount
	Total string
}

type countsView struct {
	// Available is false when the backend cannot count (no Browser).
	Available bool
	Estimated bool
	ByTask    bool
	// Age is how long ago the counts shown were read, when they may be
	// out of date: newer ones are being read.
	Age string
	// Pending says the counts are being read and were not ready in time.
	Pending bool
	// Reload asks the page to reload in countsReload, for newer counts.
	Reload    bool
	Total     string
	Statuses  []statusCount
	Columns   []state.Status
	Tasks     []taskCounts
	TasksMore int
}

type overviewData struct {
	Apps     []appRow
	AppsMore int
	Counts   countsView
	// CanList is false when the backend cannot list (no Browser).
	CanList     bool
	Failures    []invRow
	FailuresURL string
	Chart       chart
	// Links switching the counts and the chart, keeping the other's
	// choice.
	ByStatusURL, ByTaskURL, HourURL, DayURL string
}

// overview serves /: the apps, the counts per status (per task and
// status with by=task), the latest failures and the throughput chart
// (window=hour, per minute; window=day, per hour).
func (s *server) overview(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := parseParams(r)
	if err != nil {
		return err
	}
	by, err := p.choice("by", "status", "task")
	if err != nil {
		return err
	}
	window, err := p.choice("window", "hour", "day")
	if err != nil {
		return err
	}
	l := linksFor(r)
	q := func(by, window string) string {
		v := url.Values{}
		if by != "status" {
			v.Set("by", by)
		}
		if window != "hour" {
			v.Set("window", window)
		}
		return l.to("", v)
	}
	d := overviewData{
		CanList: s.browser != nil, FailuresURL: l.invocationList(url.Values{"status": {string(state.StatusFailed)}}),
		ByStatusURL: q("status", window), ByTaskURL: q("task", window), HourURL: q(by, "hour"), DayURL: q(by, "day"),
	}

	apps, err := s.b.DiscoverAppInfos(ctx)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(apps))
	for id := range apps {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) > maxAppsShown {
		d.AppsMore = len(ids) - maxAppsShown
		ids = ids[:maxAppsShown]
	}
	for _, id := range ids {
		a := apps[id]
		d.Apps = append(d.Apps, appRow{AppID: text(a.AppID), Module: text(a.Module), AppVariable: text(a.AppVariable), ModuleFile: text(a.ModuleFilepath)})
	}

	if d.Counts, err = s.counts(ctx, l, by == "task"); err != nil {
		return err
	}
	if s.browser != nil {
		page, err := s.browser.ListInvocations(ctx, state.InvocationFilter{Statuses: []state.Status{state.StatusFailed}}, state.PageRequest{Limit: recentFailures})
		if err != nil {
			return err
		}
		d.Failures = l.invRows(page.Invocations)
	}
	if d.Chart, err = s.throughput(ctx, window, s.now()); err != nil {
		return err
	}
	info := pageInfo{Title: "Overview", Nav: "overview", Events: l.events(nil)}
	if d.Counts.Reload {
		info.Refresh = int(countsReload / time.Second)
	}
	return s.ok(w, r, "overview", info, d)
}

// counts counts the invocations per status, or per task and status: an
// estimate where the backend is a state.CountEstimator (the page says
// when it is one), exact counts from a state.Browser otherwise.
func (s *server) counts(ctx context.Context, l links, byTask bool) (countsView, error) {
	v := countsView{ByTask: byTask}
	if s.estimator == nil && s.browser == nil {
		return v, nil
	}
	now := s.now()
	c, current, ok, err := s.overviewCounts(ctx, byTask, now)
	switch {
	case err != nil:
		return v, err
	case !ok:
		// Still counting: the page says so and reloads.
		v.Available, v.Pending, v.Reload = true, true, true
		return v, nil
	case !current:
		// Older counts while newer ones are read: the page says how old
		// they are and reloads.
		v.Age, v.Reload = formatDuration(max(now.Sub(c.started), 0).Truncate(100*time.Millisecond)), true
	}
	rows := c.rows
	v.Estimated = c.estimated
	v.Available = true
	perStatus := map[state.Status]int64{}
	var total int64
	for _, c := range rows {
		perStatus[c.Status] += c.Count
		total += c.Count
	}
	v.Total = formatCount(total)
	for _, st := range state.Statuses() {
		if n, ok := perStatus[st]; ok {
			v.Columns = append(v.Columns, st)
			v.Statuses = append(v.Statuses, statusCount{Status: st, Count: formatCount(n),
				URL: l.invocationList(url.Values{"status": {string(st)}})})
		}
	}
	if !byTask {
		return v, nil
	}
	// Rows come ordered by task: one table row per task, one column per
	// status that has invocations.
	col := map[state.Status]int{}
	for i, st := range v.Columns {
		col[st] = i
	}
	var cur *taskCounts // nil for a task past the bound
	var curTotal int64
	var curTask state.TaskID
	started := false
	flush := func() {
		if cur != nil {
			cur.Total = formatCount(curTotal)
			v.Tasks = append(v.Tasks, *cur)
			cur = nil
		}
	}
	for _, c := range rows {
		if !started || c.Task != curTask {
			flush()
			started, curTask, curTotal = true, c.Task, 0
			if len(v.Tasks) == maxTaskRowsShown {
				v.TasksMore++
				continue
			}
			cur = &taskCounts{Task: taskText(c.Task), TaskURL: l.task(c.Task), Cells: make([]statusCount, len(v.Columns))}
			if c.Task.IsZero() {
				cur.Task = "(history only)"
			}
			for i, st := range v.Columns {
				cur.Cells[i].Status = st
			}
		}
		if cur == nil {
			continue
		}
		cell := &cur.Cells[col[c.Status]]
		cell.Count = formatCount(c.Count)
		if !c.Task.IsZero() {
			cell.URL = l.invocationList(url.Values{"task": {c.Task.Key()}, "status": {string(c.Status)}})
		}
		curTotal += c.Count
	}
	flush()
	return v, nil
}

// chart is the throughput chart, an SVG drawn by the template from the
// rectangles and ticks computed here.
type chart struct {
	Width, Height int
	// Unit is what a bar counts: the status changes of one "minute" or
	// "hour".
	Unit   string
	Window string
	Rects  []chartRect
	Marks  []chartRect // the tops of the bars that were cut
	XTicks []chartTick
	YTicks []chartTick
	Total  string
	// Cut says some bars were cut at PerBucket records: they show at
	// least what they count.
	Cut       bool
	PerBucket string
	PlotLeft  int
	PlotRight int
	PlotTop   int
	PlotBase  int
}

type chartRect struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

type chartTick struct {
	X, Y  float64
	Label string
}

// throughputGroups are the series of the chart, stacked in this order.
var throughputGroups = []struct {
	class string
	label string
	has   func(state.Status) bool
}{
	{"st-success", "success", func(s state.Status) bool { return s == state.StatusSuccess }},
	{"st-failed", "failed", func(s state.Status) bool { return s == state.StatusFailed }},
	{"st-running", "running", func(s state.Status) bool { return s == state.StatusRunning || s == state.StatusRunningRecovery }},
	{"st-other", "other", func(state.Status) bool { return true }},
}

// throughput counts the status changes (history records) per minute over
// the last hour, or per hour over the last day.
//
// It must stay cheap on a database of millions of records, so it never
// reads a whole window: each bucket (a minute, an hour) is one
// HistoryInTimeRange over that bucket, stopped after ScanLimit/buckets
// records, which reads one index range of the history's timestamp. A
// bucket that reaches its share is drawn as "at least" that many (marked
// and said under the chart). The page thus reads at most ScanLimit
// records (one per bucket at least), in as many short queries as there
// are buckets, however busy the day was, and every bucket is counted
// from its own start, so a busy hour does not hide the next ones. The
// buckets that have ended are kept for chartCacheTTL, so the reloads of
// a live overview read the current bucket only.
func (s *server) throughput(ctx context.Context, window string, now time.Time) (chart, error) {
	buckets, step, unit, label, every := throughputMinutes, time.Minute, "minute", "15:04", 10
	if window == "day" {
		buckets, step, unit, label, every = throughputHours, time.Hour, "hour", "15:04", 4
	}
	perBucket := max(1, s.opts.ScanLimit/buckets)
	now = now.UTC()
	end := now.Truncate(step).Add(step) // the current bucket, still filling
	start := end.Add(-time.Duration(buckets) * step)

	counts := make([][]int, buckets)
	cut := make([]bool, buckets)
	maxN := 0
	total := 0
	read := make([]bucketCounts, buckets)
	if err := s.readBuckets(ctx, read, start, step, perBucket, now); err != nil {
		return chart{}, err
	}
	for i, b := range read {
		counts[i], cut[i] = b.counts, b.cut
		maxN = max(maxN, b.n)
		total += b.n
	}

	c := chart{
		Width: chartWidth, Height: chartHeight, Unit: unit, Window: window,
		PlotLeft: chartLeft, PlotRight: chartWidth - chartRight, PlotTop: chartTop, PlotBase: chartHeight - chartBottom,
		Total: formatCount(int64(total)), PerBucket: formatCount(int64(perBucket)),
	}
	plotW := float64(c.PlotRight - c.PlotLeft)
	plotH := float64(c.PlotBase - c.PlotTop)
	scale := max(1, niceCeil(maxN))
	slot := plotW / float64(buckets)
	for i := range buckets {
		from := start.Add(time.Duration(i) * step)
		x := float64(c.PlotLeft) + float64(i)*slot + slot*0.1
		y := float64(c.PlotBase)
		sum := 0
		for g, n := range counts[i] {
			if n == 0 {
				continue
			}
			sum += n
			h := plotH * float64(n) / float64(scale)
			y -= h
			c.Rects = append(c.Rects, chartRect{X: x, Y: y, W: slot * 0.8, H: h, Class: throughputGroups[g].class,
				Title: from.Format("2006-01-02 15:04") + " UTC: " + formatCount(int64(n)) + " " + throughputGroups[g].label})
		}
		if cut[i] {
			c.Cut = true
			c.Marks = append(c.Marks, chartRect{X: x, Y: y - 3, W: slot * 0.8, H: 2, Class: "cut",
				Title: from.Format("2006-01-02 15:04") + " UTC: at least " + formatCount(int64(sum)) + " changes (cut)"})
		}
		if i%every == 0 {
			c.XTicks = append(c.XTicks, chartTick{X: float64(c.PlotLeft) + float64(i)*slot, Y: float64(c.PlotBase + 15), Label: from.Format(label)})
		}
	}
	ticks := []int{0, scale}
	if half := scale / 2; half > 0 && 2*half == scale {
		ticks = []int{0, half, scale}
	}
	for _, v := range ticks {
		y := float64(c.PlotBase) - plotH*float64(v)/float64(scale)
		c.YTicks = append(c.YTicks, chartTick{X: float64(c.PlotLeft - 6), Y: y + 4, Label: formatCount(int64(v))})
	}
	return c, nil
}

// chartReaders bounds the buckets the chart reads at once: a first view
// reads them all (one short query each), later ones the current bucket.
const chartReaders = 4

// readBuckets fills read[i] with the counts of the bucket starting at
// start + i*step, chartReaders of them at a time.
func (s *server) readBuckets(ctx context.Context, read []bucketCounts, start time.Time, step time.Duration, perBucket int, now time.Time) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range min(chartReaders, len(read)) {
		wg.Go(func() {
			for i := range next {
				b, err := s.bucket(ctx, start.Add(time.Duration(i)*step), step, perBucket, now)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
					continue
				}
				read[i] = b
			}
		})
	}
feed:
	for i := range read {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// bucketCounts are the status changes of one bucket of the chart.
type bucketCounts struct {
	counts []int // per throughputGroups
	n      int
	cut    bool      // the bucket holds more than was read
	at     time.Time // when it was read
}

// chartCacheTTL is how long the counts of a bucket that has ended are
// reused. The overview reloads as changes come, up to twice a second;
// an ended bucket changes only when a record arrives late with an
// older timestamp, which the chart then shows within this time.
const chartCacheTTL = 30 * time.Second

// chartCache keeps the counts of ended buckets, by their start and step.
type chartCache struct {
	mu sync.Mutex
	m  map[chartKey]bucketCounts
}

type chartKey struct {
	start time.Time
	step  time.Duration
}

// bucket counts the history records of [from, from+step), at most
// perBucket of them, reusing the counts of an ended bucket read less
// than chartCacheTTL ago.
func (s *server) bucket(ctx context.Context, from time.Time, step time.Duration, perBucket int, now time.Time) (bucketCounts, error) {
	key := chartKey{from, step}
	ended := !from.Add(step).After(now)
	if ended {
		s.chart.mu.Lock()
		b, ok := s.chart.m[key]
		s.chart.mu.Unlock()
		if ok && now.Sub(b.at) < chartCacheTTL {
			return b, nil
		}
	}
	b := bucketCounts{counts: make([]int, len(throughputGroups)), at: now}
	to := from.Add(step - time.Microsecond) // the range includes both ends
read:
	for batch, err := range s.b.HistoryInTimeRange(ctx, from, to, perBucket+1) {
		if err != nil {
			return bucketCounts{}, err
		}
		for _, h := range batch {
			if b.n == perBucket {
				b.cut = true
				break read
			}
			b.n++
			for g, grp := range throughputGroups {
				if grp.has(h.StatusRecord.Status) {
					b.counts[g]++
					break
				}
			}
		}
	}
	if ended {
		s.chart.mu.Lock()
		if s.chart.m == nil {
			s.chart.m = map[chartKey]bucketCounts{}
		}
		for k, old := range s.chart.m {
			if now.Sub(old.at) >= chartCacheTTL {
				delete(s.chart.m, k)
			}
		}
		s.chart.m[key] = b
		s.chart.mu.Unlock()
	}
	return b, nil
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten.
func niceCeil(n int) int {
	if n <= 1 {
		return n
	}
	p := 1
	for {
		for _, m := range []int{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
		p *= 10
	}
}
