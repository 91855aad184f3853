package repository_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/repository"
	"github.com/taskstate/statebackend/state"
)

// TestEstimateTaskStatusCounts checks the sampled counts per task and
// status on Postgres: a table smaller than the sample is read whole, so
// the estimate equals the exact count; below minRows, and on SQLite, there
// is no estimate.
func TestEstimateTaskStatusCounts(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		open func(t *testing.T) gorm.Dialector
	}{
		{"sqlite", func(t *testing.T) gorm.Dialector { return sqliteFile(t) }},
		{"postgres", func(t *testing.T) gorm.Dialector { return postgresDB(t) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a := openApp(t, c.open(t), conformance.NewAppID(), dialect.Pool{})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			db := a.db.WithContext(ctx)
			statuses := []state.Status{state.StatusSuccess, state.StatusFailed, state.StatusRunning}
			byStatus := map[state.Status][]string{}
			var ids []string
			for i := range 300 {
				id := fmt.Sprintf("est-%03d", i)
				ids = append(ids, id)
				byStatus[statuses[i%7%3]] = append(byStatus[statuses[i%7%3]], id)
			}
			invs := invocationRows(ids)
			for i := range invs {
				invs[i].TaskIDKey = entities.Key(state.TaskID{Module: "m", FuncName: fmt.Sprintf("t%d", i%4)}.Key())
			}
			if err := a.repo.UpsertInvocations(db, invs); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
			for st, ids := range byStatus {
				h := state.InvocationHistory{Timestamp: at, StatusRecord: state.StatusRecord{Status: st, Timestamp: at}}
				if err := a.repo.AddHistory(db, historyRows(ids, h)); err != nil {
					t.Fatal(err)
				}
			}
			got, ok, err := a.repo.EstimateTaskStatusCounts(db, 0)
			if err != nil {
				t.Fatal(err)
			}
			if c.name == "sqlite" {
				if ok {
					t.Fatalf("an estimate on SQLite: %+v", got)
				}
				return
			}
			if ok {
				t.Fatalf("an estimate before the table was analyzed: %+v", got)
			}
			if err := db.Exec("ANALYZE " + `"` + a.repo.Tables.Name("InvocationStatus") + `"`).Error; err != nil {
				t.Fatal(err)
			}
			want, err := a.repo.CountInvocations(db, repository.BrowseFilter{}, true)
			if err != nil {
				t.Fatal(err)
			}
			got, ok, err = a.repo.EstimateTaskStatusCounts(db, 0)
			if err != nil || !ok {
				t.Fatalf("EstimateTaskStatusCounts: %+v, %v, %v", got, ok, err)
			}
			order := func(rows []repository.StatusCountRow) {
				slices.SortFunc(rows, func(x, y repository.StatusCountRow) int {
					return strings.Compare(x.TaskIDKey+" "+x.Status, y.TaskIDKey+" "+y.Status)
				})
			}
			order(got)
			order(want)
			if len(want) != 12 || !reflect.DeepEqual(got, want) {
				t.Fatalf("sampled (whole table) %+v, want the %d exact rows %+v", got, len(want), want)
			}
			if got, ok, err := a.repo.EstimateTaskStatusCounts(db, 301); err != nil || ok {
				t.Fatalf("EstimateTaskStatusCounts(minRows 301) of 300 rows: %+v, %v, %v; want no estimate", got, ok, err)
			}
		})
	}
}
