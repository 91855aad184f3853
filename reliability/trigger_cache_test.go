package reliability_test

import (
	"bytes"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/galeratest"
	"github.com/taskstate/statebackend/mysql"
)

// TestGaleraTriggerCacheRepaired proves that a write goes through on a
// MariaDB node whose table cache holds the history table with triggers
// that failed to load. MariaDB parses a table's triggers when it opens the
// table and keeps the opened table in its cache, failed triggers and all;
// under contention on Galera a parse now and then fails, and every
// statement that gets that copy of the table fails ("Trigger ... has an
// error in its body") until the table is flushed, so retrying alone does
// not help. The test makes such a copy: it damages the table's trigger
// file, has the server open the table from it, and puts the good file
// back. The only copy in the cache is then the broken one, and the write
// must still succeed: the backend flushes the table before its retry.
func TestGaleraTriggerCacheRepaired(t *testing.T) {
	t.Parallel()
	c := galeratest.Shared(t)
	dsn := c.NodeDSNs()[0]
	app := conformance.NewAppID()
	var logs syncBuffer
	b, err := statebackend.Open(mysql.Open(dsn), statebackend.WithAppID(app),
		statebackend.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ctx := t.Context()
	ids := []statebackend.InvocationID{"inv-1", "inv-2"}
	base := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	first, second := contentionRecord(base, 0, -1), contentionRecord(base, 1, 0)
	if err := b.AddHistory(ctx, ids, first); err != nil {
		t.Fatal(err)
	}

	files, err := filepath.Glob(filepath.Join(c.DatabaseDir(t, 0), app+"_*_history.TRG"))
	if err != nil || len(files) != 1 {
		t.Fatalf("the history table's trigger file of app %s on node 0: %v %v", app, files, err)
	}
	trg := files[0]
	table := strings.TrimSuffix(filepath.Base(trg), ".TRG")
	good, err := os.ReadFile(trg)
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Replace(good, []byte(" FOR EACH ROW "), []byte(" FOR EACH ROWS "), 1)
	if bytes.Equal(damaged, good) {
		t.Fatalf("%s defines no row trigger to damage:\n%s", trg, good)
	}

	// One connection, so that the server's cache holds one copy of the
	// table: the one opened from the damaged file.
	raw, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	raw.SetMaxOpenConns(1)
	// insertOne inserts a copy of one of the table's rows and rolls it
	// back: a statement that runs the table's insert triggers (the server
	// reports failed ones when it runs them) and changes nothing.
	var columns string
	if err := raw.QueryRowContext(ctx, "SELECT GROUP_CONCAT(CONCAT('`', column_name, '`') ORDER BY ordinal_position) "+
		"FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? AND column_name <> 'id'", table).Scan(&columns); err != nil {
		t.Fatal(err)
	}
	insertOne := func() error {
		tx, err := raw.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		_, err = tx.ExecContext(ctx, "INSERT INTO `"+table+"` ("+columns+") SELECT "+columns+" FROM `"+table+"` LIMIT 1")
		return err
	}
	if err := os.WriteFile(trg, damaged, 0); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := os.WriteFile(trg, good, 0); err != nil {
				t.Errorf("restore %s: %v", trg, err)
			}
		}
	}
	defer restore()
	if _, err := raw.ExecContext(ctx, "FLUSH LOCAL TABLES `"+table+"`"); err != nil {
		t.Fatal(err)
	}
	if err := insertOne(); err == nil || !strings.Contains(err.Error(), "has an error in its body") {
		t.Fatalf("a write with the damaged trigger file: %v, want a trigger error", err)
	}
	restore()
	err = insertOne()
	if err == nil || !strings.Contains(err.Error(), "has an error in its body") {
		t.Fatalf("a write after the good trigger file is back: %v, want the cached table's trigger error", err)
	}

	if err := b.AddHistory(ctx, ids, second); err != nil {
		t.Fatalf("AddHistory on a node caching the table with failed triggers: %v\nthe backend's log:\n%s", err, tail(logs.String(), 20))
	}
	if !strings.Contains(logs.String(), "reason=trigger_load") {
		t.Fatalf("the write did not meet the cached failed triggers; the backend's log:\n%s", logs.String())
	}
	for _, id := range ids {
		got, err := b.History(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !got[0].Timestamp.Equal(first.Timestamp) || !got[1].Timestamp.Equal(second.Timestamp) {
			t.Fatalf("history of %s: %+v, want the two records", id, got)
		}
	}
}
