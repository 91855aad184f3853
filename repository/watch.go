package repository

import (
	"database/sql"
	"strconv"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// ChangeRow is a change as the feed reads it: the row of the changes
// table with the task and workflow of its invocation (or workflow run) as
// stored now.
type ChangeRow struct {
	ID              int64
	Kind            string
	InvocationID    string
	Status          string
	StatusTimestamp int64
	TaskIDKey       string
	WorkflowID      string
}

// PlaceholderKind is the kind of the row that keeps the changes table's
// newest id when retention or a purge deletes every change, so that the
// next id continues the sequence: the feed delivers no change for it.
const PlaceholderKind = ""

// expiredMark names the leases-table row that holds the id of the newest
// change retention or a purge deleted: a cursor below it has lost changes.
const expiredMark = "change feed expired through"

// ChangesAfter returns up to limit changes with an id greater than after,
// in id order.
func (r Repo) ChangesAfter(db *gorm.DB, after int64, limit int) ([]ChangeRow, error) {
	stmt, err := r.statement(db, stmtKey{name: "changes.after"}, func(tx *gorm.DB) *gorm.DB {
		c, i, w := r.Tables.Name("Change"), r.Tables.Name("Invocation"), r.Tables.Name("Workflow")
		q := tx.Table(c+" c").
			Select("c.id, c.kind, c.invocation_id, c.status, c.status_timestamp, "+
				"COALESCE(CASE WHEN c.kind = 'workflow_run' THEN w.workflow_type_key ELSE i.task_id_key END, ''), "+
				"CASE WHEN c.kind = 'workflow_run' THEN c.invocation_id ELSE COALESCE(i.workflow_id, '') END").
			Joins("LEFT JOIN "+i+" i ON i.invocation_id = c.invocation_id").
			Joins("LEFT JOIN "+w+" w ON c.kind = 'workflow_run' AND w.workflow_id = c.invocation_id").
			Where("c.id > ?", arg(0)).Order("c.id")
		return limited(q, 1).Find(&[]entities.Change{})
	})
	if err != nil {
		return nil, err
	}
	out := make([]ChangeRow, 0, min(limit, 256))
	err = stmt.each(db, func(rows *sql.Rows) error {
		var c ChangeRow
		err := rows.Scan(&c.ID, &c.Kind, &c.InvocationID, &c.Status, &c.StatusTimestamp, &c.TaskIDKey, &c.WorkflowID)
		out = append(out, c)
		return err
	}, after, limit)
	return out, err
}

// LatestChangeID returns the largest change id, 0 when there is none.
func (r Repo) LatestChangeID(db *gorm.DB) (int64, error) {
	var id *int64
	err := db.Table(r.Tables.Name("Change")).Select("MAX(id)").Scan(&id).Error
	if err != nil || id == nil {
		return 0, err
	}
	return *id, nil
}

// ChangesExpiredThrough returns the id of the newest change that retention
// or a purge deleted, 0 when none was.
func (r Repo) ChangesExpiredThrough(db *gorm.DB) (int64, error) {
	var holder []string
	err := db.Table(r.Tables.Name("Lease")).Where("name = ?", expiredMark).Limit(1).Pluck("holder", &holder).Error
	if err != nil || len(holder) == 0 {
		return 0, err
	}
	return strconv.ParseInt(holder[0], 10, 64)
}

// OldChanges returns the ids of up to limit changes after the expiry mark,
// in order, as far as the first recorded at or after cutoff
// (microseconds): a batch that retention may delete.
func (r Repo) OldChanges(db *gorm.DB, cutoff int64, limit int) ([]int64, error) {
	mark, err := r.ChangesExpiredThrough(db)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ID         int64
		RecordedAt int64
	}
	err = db.Table(r.Tables.Name("Change")).Select("id, recorded_at").Where("id > ?", mark).
		Order("id").Limit(limit).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(rows))
	for _, c := range rows {
		if c.RecordedAt >= cutoff {
			break
		}
		ids = append(ids, c.ID)
	}
	return ids, nil
}

// ExpireChanges deletes the changes with an id below through and turns
// the change through into a placeholder (so the table's ids continue
// after it on every database), and records through as the expiry mark.
// It returns the number of changes deleted, the placeholder included.
func (r Repo) ExpireChanges(db *gorm.DB, through int64) (n int64, err error) {
	err = inTx(db, 2, func(tx *gorm.DB) (err error) {
		n, err = r.expireChanges(tx, through)
		return err
	})
	return n, err
}

// expireChanges is ExpireChanges within the transaction tx.
func (r Repo) expireChanges(tx *gorm.DB, through int64) (int64, error) {
	var n int64
	err := func() error {
		table := r.Tables.Name("Change")
		res := tx.Table(table).Where("id < ? AND kind <> ?", through, PlaceholderKind).Delete(&entities.Change{})
		if res.Error != nil {
			return res.Error
		}
		n = res.RowsAffected
		if err := tx.Table(table).Where("id < ?", through).Delete(&entities.Change{}).Error; err != nil {
			return err
		}
		res = tx.Table(table).Where("id = ? AND kind <> ?", through, PlaceholderKind).
			Updates(map[string]any{"kind": PlaceholderKind, "invocation_id": "", "status": "", "status_timestamp": 0})
		if res.Error != nil {
			return res.Error
		}
		n += res.RowsAffected
		return r.saveExpiredMark(tx, through)
	}()
	return n, err
}

// saveExpiredMark records through as the newest change deleted (a row of
// the leases table that no holder ever takes: it never expires, and no
// lease has its name).
func (r Repo) saveExpiredMark(tx *gorm.DB, through int64) error {
	return tx.Table(r.Tables.Name("Lease")).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"holder"}),
	}).Create(map[string]any{"name": expiredMark, "holder": strconv.FormatInt(through, 10), "expires_at": 0}).Error
}

// purgeChanges deletes every change in the transaction of a purge,
// keeping the newest id as a placeholder and as the expiry mark.
func (r Repo) purgeChanges(tx *gorm.DB) (int64, error) {
	latest, err := r.LatestChangeID(tx)
	if err != nil || latest == 0 {
		return 0, err
	}
	return r.expireChanges(tx, latest)
}
