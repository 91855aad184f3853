package mysql_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend/conformance/mysqltest"
	sbmysql "github.com/taskstate/statebackend/mysql"
)

// TestRepairFlushesAfterTriggerLoad checks the dialect's Repair, which the
// backend runs before retrying work that failed because the server could
// not load a table's triggers (the table then stays in MariaDB's table
// cache, broken, until flushed): it flushes the tables for that reason
// only; without the RELOAD privilege it reports once, asking for it, and
// then does nothing. reliability's TestGaleraTriggerCacheRepaired proves
// the flush mends such a table.
func TestRepairFlushesAfterTriggerLoad(t *testing.T) {
	dsn := mysqltest.DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open := func(dsn string) (*gorm.DB, func(context.Context, *gorm.DB, string, []string) error) {
		t.Helper()
		d := sbmysql.Open(dsn)
		db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard})
		if err != nil {
			t.Fatal(err)
		}
		sqlDB, _ := db.DB()
		t.Cleanup(func() { _ = sqlDB.Close() })
		repair := d.Dialect().Repair
		if repair == nil {
			t.Fatal("the mysql dialect has no Repair")
		}
		return db, repair
	}
	db, repair := open(dsn)
	if !strings.Contains(db.Dialector.(*sbmysql.Dialector).ServerVersion, "MariaDB") {
		t.Skip("the tables whose triggers failed to load stay cached on MariaDB; the server is MySQL")
	}
	missing := &gomysql.MySQLError{Number: 1146, Message: "Table 'db.t' doesn't exist"}
	if reason := sbmysql.Open(dsn).Dialect().Transient(missing); reason != "" {
		t.Fatalf("a missing table is %q on a server that is no Galera node, want no retry", reason)
	}
	if err := db.Exec("CREATE TABLE IF NOT EXISTS repair_flushed (id int PRIMARY KEY)").Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Exec("DROP TABLE repair_flushed").Error })
	tables := []string{"repair_flushed", "repair_no_such_table"}

	// A closed handle fails any statement: nil from it means none ran.
	closed, _ := open(dsn)
	closedSQL, _ := closed.DB()
	_ = closedSQL.Close()
	if err := repair(ctx, closed, "deadlock", tables); err != nil {
		t.Fatalf("Repair after a deadlock: %v, want nothing done", err)
	}
	if err := repair(ctx, closed, "trigger_load", nil); err != nil {
		t.Fatalf("Repair of no tables: %v, want nothing done", err)
	}

	var grants []string
	if err := db.Raw("SHOW GRANTS").Scan(&grants).Error; err != nil {
		t.Fatal(err)
	}
	reload := false
	for _, g := range grants {
		reload = reload || strings.Contains(g, "RELOAD") || strings.Contains(g, "ALL PRIVILEGES ON *.*")
	}
	if reload {
		if err := repair(ctx, db, "trigger_load", tables); err != nil {
			t.Fatalf("Repair with RELOAD: %v", err)
		}
		return
	}
	err := repair(ctx, db, "trigger_load", tables)
	var me *gomysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1227 || !strings.Contains(err.Error(), "grant the account the RELOAD privilege") {
		t.Fatalf("Repair without RELOAD: %v, want the server's refusal (1227) asking for RELOAD", err)
	}
	if err := repair(ctx, closed, "trigger_load", tables); err != nil {
		t.Fatalf("Repair after a refusal: %v, want nothing done", err)
	}

	if os.Getenv(mysqltest.DSNEnv) != "" {
		return // a server of the test's own has the root account below
	}
	// The test server's root has the user's password, and RELOAD.
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User = "root"
	rootDB, rootRepair := open(cfg.FormatDSN())
	if err := rootRepair(ctx, rootDB, "trigger_load", tables); err != nil {
		t.Fatalf("Repair as root: %v", err)
	}
}
