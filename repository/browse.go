package repository

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// BrowseFilter selects rows of the current-status table (see
// entities.InvocationStatus). Zero fields select everything.
type BrowseFilter struct {
	Tasks        []string // task keys
	Statuses     []string
	WorkflowID   string
	WorkflowType string // workflow type key
	Parent       string // parent invocation id
	Runner       string // runner context id of the current record
	// Since and Before bound status_timestamp: Since <= ts < Before; 0 is
	// unbounded.
	Since, Before int64

	// ids, when not nil, are the invocations the workflow, workflow type
	// and parent filters select, read beforehand (see members).
	ids []string
}

// MembersByID bounds the invocations of a workflow or a parent that a
// listing or a count reads by id, from the invocations' indexes, rather
// than in the order of current statuses: a small set is found at once
// that way, where reading statuses newest first would read them all to
// find that an invocation has no children.
const MembersByID = 2000

// members returns f with the invocations its workflow, workflow type and
// parent filters select in place of those filters, when there is such a
// filter and at most MembersByID invocations match it; otherwise f as it
// is. none is true when the filters select no invocation.
func (r Repo) members(db *gorm.DB, f BrowseFilter) (g BrowseFilter, none bool, err error) {
	if f.WorkflowID == "" && f.WorkflowType == "" && f.Parent == "" {
		return f, false, nil
	}
	q := f.onInvocation(db.Table(r.Tables.Name("Invocation")).Select("invocation_id"), "")
	var ids []string
	if err := q.Limit(MembersByID+1).Pluck("invocation_id", &ids).Error; err != nil {
		return f, false, err
	}
	if len(ids) > MembersByID {
		return f, false, nil
	}
	g = f
	g.WorkflowID, g.WorkflowType, g.Parent = "", "", ""
	g.ids = ids
	return g, len(ids) == 0, nil
}

// onInvocation applies f's workflow, workflow type and parent filters to
// q, as conditions on the invocation columns whose names start with
// prefix ("" or an alias and a dot).
func (f BrowseFilter) onInvocation(q *gorm.DB, prefix string) *gorm.DB {
	if f.WorkflowID != "" {
		q = q.Where(prefix+"workflow_id = ?", f.WorkflowID)
	}
	if f.WorkflowType != "" {
		q = q.Where(prefix+"workflow_type_key = ?", f.WorkflowType)
	}
	if f.Parent != "" {
		q = q.Where(prefix+"parent_invocation_id = ?", f.Parent)
	}
	return q
}

// BrowseKey is a position in a listing: the last row's status timestamp
// and invocation id.
type BrowseKey struct {
	Timestamp int64
	ID        string
}

// BrowseRow is one listed invocation: its current status, the document of
// the current history record, and its invocation row (zero when the id has
// history only).
type BrowseRow struct {
	InvocationID      string
	TaskIDKey         string
	Status            string
	StatusTimestamp   int64
	RunnerContextID   string
	HistoryJSON       string
	HasInvocation     bool
	WorkflowID        string
	WorkflowTypeKey   string
	ParentWorkflowID  string
	ParentInvocation  string
	InvocationTaskKey string
}

// StatusCountRow is one row of CountInvocations: TaskIDKey is "" unless
// counted per task.
type StatusCountRow struct {
	TaskIDKey string
	Status    string
	Count     int64
}

// browseWhere applies f to q, whose current-status table is aliased s.
// Invocations without history (status "") never match: the condition is
// on the status, which every index of the table starts with or covers.
func (r Repo) browseWhere(q *gorm.DB, f BrowseFilter) *gorm.DB {
	if len(f.Statuses) == 0 {
		q = q.Where("s.status <> ''")
	} else if len(f.Statuses) == 1 {
		q = q.Where("s.status = ?", f.Statuses[0])
	} else if len(f.Statuses) > 1 {
		q = q.Where("s.status IN ?", f.Statuses)
	}
	if len(f.Tasks) == 1 {
		q = q.Where("s.task_id_key = ?", f.Tasks[0])
	} else if len(f.Tasks) > 1 {
		q = q.Where("s.task_id_key IN ?", f.Tasks)
	}
	if f.Runner != "" {
		q = q.Where("s.runner_context_id = ?", f.Runner)
	}
	if f.Since != 0 {
		q = q.Where("s.status_timestamp >= ?", f.Since)
	}
	if f.Before != 0 {
		q = q.Where("s.status_timestamp < ?", f.Before)
	}
	if f.ids != nil {
		q = q.Where("s.invocation_id IN ?", f.ids)
	}
	if f.WorkflowID == "" && f.WorkflowType == "" && f.Parent == "" {
		return q
	}
	// The workflow, workflow type and parent filters: the set of members
	// the invocations' indexes find (what a count reads whole).
	members := q.Session(&gorm.Session{NewDB: true}).Table(r.Tables.Name("Invocation")).Select("invocation_id")
	return q.Where("s.invocation_id IN (?)", f.onInvocation(members, ""))
}

// browseSelect is what a listing reads of each row.
const browseSelect = "s.invocation_id, s.task_id_key, s.status, s.status_timestamp, s.runner_context_id, " +
	"h.history_json, i.invocation_id IS NOT NULL AS has_invocation, " +
	"COALESCE(i.workflow_id, '') AS workflow_id, COALESCE(i.workflow_type_key, '') AS workflow_type_key, " +
	"COALESCE(i.parent_workflow_id, '') AS parent_workflow_id, " +
	"COALESCE(i.parent_invocation_id, '') AS parent_invocation, COALESCE(i.task_id_key, '') AS invocation_task_key"

// browseFrom starts a listing query over the current statuses (s), with
// the current history record (h) and the invocation (i).
func (r Repo) browseFrom(db *gorm.DB) *gorm.DB {
	return r.statusTable(db).Select(browseSelect).
		Joins("JOIN ? h ON h.id = s.history_id", clause.Table{Name: r.Tables.Name("History")}).
		Joins("LEFT JOIN ? i ON i.invocation_id = s.invocation_id", clause.Table{Name: r.Tables.Name("Invocation")})
}

// statusTable starts a query over the current-status table, aliased s.
func (r Repo) statusTable(db *gorm.DB) *gorm.DB {
	return db.Table("? s", clause.Table{Name: r.Tables.Name("InvocationStatus")})
}

// maxMergedRanges bounds the (task, status) pairs a listing reads as
// ranges of their own and merges; past it, one statement sorts.
const maxMergedRanges = 64

// ListInvocations returns up to limit rows matching f, newest change
// first (status timestamp, then invocation id, both descending), after
// the key when there is one. allStatuses lists every status, for a
// listing without a status.
//
// The indexes order rows by time within one status, or one task and
// status; there is no index by time alone (each costs every history
// write). A listing of several statuses or tasks, or of none (all of
// them), reads each (task, status) range in index order, up to limit
// rows, and merges them here: a few short index reads, where one
// statement would sort every matching row.
func (r Repo) ListInvocations(db *gorm.DB, f BrowseFilter, allStatuses []string, after *BrowseKey, limit int) ([]BrowseRow, error) {
	f, none, err := r.members(db, f)
	if err != nil || none {
		return nil, err
	}
	if f.ids != nil {
		// A small set: one statement sorts its rows.
		return r.listRange(db, f, after, limit)
	}
	statuses := f.Statuses
	if len(statuses) == 0 {
		statuses = allStatuses
	}
	tasks := f.Tasks
	if len(tasks) == 0 {
		tasks = []string{""}
	}
	ranges := len(statuses) * len(tasks)
	if ranges <= 1 || ranges > maxMergedRanges {
		return r.listRange(db, f, after, limit)
	}
	var all []BrowseRow
	for _, task := range tasks {
		for _, st := range statuses {
			one := f
			one.Statuses = []string{st}
			if task != "" {
				one.Tasks = []string{task}
			}
			rows, err := r.listRange(db, one, after, limit)
			if err != nil {
				return nil, err
			}
			all = append(all, rows...)
		}
	}
	return mergeNewest(all, limit), nil
}

// mergeNewest orders rows read from several ranges newest first and keeps
// the first limit. The ranges are read by statements of their own, so an
// invocation whose status changed between two of them can come from both:
// only its newest row, its current status, is kept.
func mergeNewest(rows []BrowseRow, limit int) []BrowseRow {
	slices.SortFunc(rows, func(a, b BrowseRow) int {
		if c := cmp.Compare(b.StatusTimestamp, a.StatusTimestamp); c != 0 {
			return c
		}
		return strings.Compare(b.InvocationID, a.InvocationID)
	})
	seen := make(map[string]bool, len(rows))
	out := rows[:0]
	for _, r := range rows {
		if seen[r.InvocationID] {
			continue
		}
		seen[r.InvocationID] = true
		if out = append(out, r); len(out) == limit {
			break
		}
	}
	return out
}

// listRange is ListInvocations in one statement. The workflow, workflow
// type and parent filters (a set of more than MembersByID members) are
// conditions on the invocation joined to each status read in the index's
// order: the statement stops after limit rows, where a set of ids would
// be read whole before the first row (for each range of a merged
// listing).
func (r Repo) listRange(db *gorm.DB, f BrowseFilter, after *BrowseKey, limit int) ([]BrowseRow, error) {
	g := f
	g.WorkflowID, g.WorkflowType, g.Parent = "", "", ""
	q := f.onInvocation(r.browseWhere(r.browseFrom(db), g), "i.")
	if after != nil {
		// The first bound, implied by the second, lets every database
		// start its index range at the cursor instead of filtering from
		// the newest row (Postgres and MySQL do not derive it).
		q = q.Where("s.status_timestamp <= ? AND (s.status_timestamp < ? OR s.invocation_id < ?)",
			after.Timestamp, after.Timestamp, after.ID)
	}
	var rows []BrowseRow
	err := q.Order("s.status_timestamp DESC").Order("s.invocation_id DESC").Limit(limit).Scan(&rows).Error
	return rows, err
}

// StuckInvocations returns up to limit rows whose status is one of
// statuses and whose status timestamp is before cutoff, longest unchanged
// first (status timestamp, then invocation id, both ascending), after the
// key when there is one.
func (r Repo) StuckInvocations(db *gorm.DB, statuses []string, cutoff int64, after *BrowseKey, limit int) ([]BrowseRow, error) {
	q := r.browseWhere(r.browseFrom(db), BrowseFilter{Statuses: statuses, Before: cutoff})
	if after != nil {
		q = q.Where("s.status_timestamp >= ? AND (s.status_timestamp > ? OR s.invocation_id > ?)",
			after.Timestamp, after.Timestamp, after.ID)
	}
	var rows []BrowseRow
	err := q.Order("s.status_timestamp").Order("s.invocation_id").Limit(limit).Scan(&rows).Error
	return rows, err
}

// CountInvocations counts the rows matching f per status, and per task
// too when byTask, in no particular order.
func (r Repo) CountInvocations(db *gorm.DB, f BrowseFilter, byTask bool) ([]StatusCountRow, error) {
	f, none, err := r.members(db, f)
	if err != nil || none {
		return nil, err
	}
	return r.count(db, f, byTask)
}

// CountInvocationsUpTo is CountInvocations when at most limit rows match
// f (complete true); when more do, it returns no rows and complete false,
// having read at most limit+1 of them (MembersByID+1 ids for a workflow or
// parent filter, and limit+1 rows after them).
func (r Repo) CountInvocationsUpTo(db *gorm.DB, f BrowseFilter, byTask bool, limit int) (rows []StatusCountRow, complete bool, err error) {
	g, none, err := r.members(db, f)
	if err != nil || none {
		return nil, err == nil, err
	}
	if g.ids == nil {
		// No member filter, or a large member set: read up to limit+1
		// matching ids first, and count those.
		ids, err := r.probe(db, g, limit+1)
		if err != nil || len(ids) > limit {
			return nil, false, err
		}
		if len(ids) == 0 {
			return nil, true, nil
		}
		g.WorkflowID, g.WorkflowType, g.Parent = "", "", ""
		g.ids = ids
	}
	if rows, err = r.count(db, g, byTask); err != nil {
		return nil, false, err
	}
	var total int64
	for _, row := range rows {
		total += row.Count
	}
	if total > int64(limit) {
		return nil, false, nil
	}
	return rows, true, nil
}

// probe returns the ids of up to limit rows that match f. A
// workflow or parent filter is read from the invocations' index, each
// member's current status found by its key, so that a large set is not
// read whole before the limit stops the statement.
func (r Repo) probe(db *gorm.DB, f BrowseFilter, limit int) ([]string, error) {
	var q *gorm.DB
	if f.WorkflowID == "" && f.WorkflowType == "" && f.Parent == "" {
		q = r.browseWhere(r.statusTable(db).Select("s.invocation_id"), f)
	} else {
		q = db.Table("? i", clause.Table{Name: r.Tables.Name("Invocation")}).Select("s.invocation_id").
			Joins("JOIN ? s ON s.invocation_id = i.invocation_id", clause.Table{Name: r.Tables.Name("InvocationStatus")})
		q = f.onInvocation(q, "i.")
		g := f
		g.WorkflowID, g.WorkflowType, g.Parent = "", "", ""
		q = r.browseWhere(q, g)
	}
	var ids []string
	err := q.Limit(limit).Pluck("s.invocation_id", &ids).Error
	return ids, err
}

// count is CountInvocations after members.
func (r Repo) count(db *gorm.DB, f BrowseFilter, byTask bool) ([]StatusCountRow, error) {
	q := r.statusTable(db)
	if byTask {
		q = q.Select("s.task_id_key, s.status, COUNT(*) AS count").Group("s.task_id_key").Group("s.status")
	} else {
		q = q.Select("s.status, COUNT(*) AS count").Group("s.status")
	}
	var rows []StatusCountRow
	err := r.browseWhere(q, f).Scan(&rows).Error
	return rows, err
}

// EstimateStatusCounts estimates the number of invocations in each status
// from the database's planner statistics: on Postgres the table's row
// estimate (pg_class.reltuples) times each status's frequency in the
// sample ANALYZE took (pg_stats.most_common_freqs). ok is false where the
// database keeps no such statistics (SQLite, MySQL) or has none for the
// table yet.
func (r Repo) EstimateStatusCounts(db *gorm.DB) (rows []StatusCountRow, ok bool, err error) {
	if db.Dialector.Name() != "postgres" {
		return nil, false, nil
	}
	table := r.Tables.Name("InvocationStatus")
	var total float64
	if err := db.Raw("SELECT reltuples FROM pg_class WHERE oid = to_regclass(?)", `"`+table+`"`).Scan(&total).Error; err != nil {
		return nil, false, err
	}
	var stats []struct{ Vals, Freqs string }
	err = db.Raw("SELECT most_common_vals::text AS vals, most_common_freqs::text AS freqs FROM pg_stats "+
		"WHERE schemaname = current_schema() AND tablename = ? AND attname = 'status'", table).Scan(&stats).Error
	if err != nil || len(stats) != 1 || total <= 0 {
		return nil, false, err
	}
	vals, freqs := pgArray(stats[0].Vals), pgArray(stats[0].Freqs)
	if len(vals) == 0 || len(vals) != len(freqs) {
		return nil, false, nil
	}
	for i, v := range vals {
		f, err := strconv.ParseFloat(freqs[i], 64)
		if err != nil {
			return nil, false, nil
		}
		if n := int64(math.Round(f * total)); v != "" && n > 0 {
			rows = append(rows, StatusCountRow{Status: v, Count: n})
		}
	}
	return rows, true, nil
}

// TaskSampleRows is about how many current statuses
// EstimateTaskStatusCounts reads of a large table.
const TaskSampleRows = 20_000

// EstimateTaskStatusCounts estimates the number of invocations per task
// and status on Postgres from a sample of the current-status table's
// pages (TABLESAMPLE SYSTEM, about TaskSampleRows rows), scaled to the
// table's row estimate (pg_class.reltuples), when that estimate is at
// least minRows: planner statistics hold no joint frequencies of task and
// status. ok is false elsewhere (SQLite, MySQL), below minRows, and for a
// table never analyzed. A rare pair may be missing from the sample, and
// so from the estimate.
func (r Repo) EstimateTaskStatusCounts(db *gorm.DB, minRows float64) (rows []StatusCountRow, ok bool, err error) {
	if db.Dialector.Name() != "postgres" {
		return nil, false, nil
	}
	table := r.Tables.Name("InvocationStatus")
	var total float64
	if err := db.Raw("SELECT reltuples FROM pg_class WHERE oid = to_regclass(?)", `"`+table+`"`).Scan(&total).Error; err != nil {
		return nil, false, err
	}
	if total <= 0 || total < minRows {
		return nil, false, nil
	}
	percent := min(100, 100*TaskSampleRows/total)
	var sample []StatusCountRow
	err = db.Raw("SELECT task_id_key, status, COUNT(*) AS count FROM ? TABLESAMPLE SYSTEM (?) GROUP BY task_id_key, status",
		clause.Table{Name: table}, percent).Scan(&sample).Error
	if err != nil {
		return nil, false, err
	}
	var read int64
	for _, row := range sample {
		read += row.Count
	}
	if read == 0 {
		return nil, false, nil
	}
	for _, row := range sample {
		if n := int64(math.Round(float64(row.Count) * total / float64(read))); row.Status != "" && n > 0 {
			rows = append(rows, StatusCountRow{TaskIDKey: row.TaskIDKey, Status: row.Status, Count: n})
		}
	}
	return rows, true, nil
}

// pgArray splits the text form of a one-dimensional Postgres array of
// simple values ({a,b,""}), unquoting quoted elements.
func pgArray(s string) []string {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := strconv.Unquote(p); err == nil {
			parts[i] = u
		}
	}
	return parts
}
