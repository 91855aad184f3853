package mysql

import (
	"errors"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"

	"github.com/taskstate/statebackend"
)

// Dialector is the gorm.Dialector of one MySQL or MariaDB database, with
// the backend's settings for it (it implements statebackend.Database). Pass
// it to statebackend.Open.
type Dialector struct {
	*gormmysql.Dialector
}

var _ statebackend.Database = (*Dialector)(nil)

// Open returns the dialector of the MySQL or MariaDB database at dsn, in
// the go-sql-driver form ("user:pass@tcp(host:3306)/db"). It forces a
// utf8mb4 connection with a binary collation, parseTime and UTC, and takes
// max_allowed_packet from the server. A DSN the driver cannot parse is
// passed through unchanged, to fail at Open.
func Open(dsn string) *Dialector {
	if cfg, err := gomysql.ParseDSN(dsn); err == nil {
		cfg.ParseTime = true
		cfg.Loc = time.UTC
		cfg.Collation = "utf8mb4_bin"
		cfg.MaxAllowedPacket = 0 // ask the server
		// Parameters are interpolated by the driver (safe with utf8mb4):
		// one round trip per statement and no server-side statements, which
		// count against the server-wide max_prepared_stmt_count (16382 by
		// default) and would run out with many processes. A statement too
		// large to interpolate falls back to a server-side prepare.
		cfg.InterpolateParams = true
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["charset"] = "utf8mb4"
		cfg.Params["time_zone"] = "'+00:00'"
		dsn = cfg.FormatDSN()
	}
	return &Dialector{Dialector: &gormmysql.Dialector{Config: &gormmysql.Config{DSN: dsn}}}
}

// Dialect implements statebackend.Database.
func (d *Dialector) Dialect() statebackend.Dialect {
	return statebackend.Dialect{
		Name:                "mysql",
		MaxIdentifierLength: 64,
		Columns: statebackend.ColumnTypes{
			// varbinary, not varchar with utf8mb4_bin: MariaDB's binary
			// collations pad, so "a" and "a " would be one key. Sizes are
			// bytes, as statebackend.MaxIDLen is.
			Key:  "varbinary(%d)",
			Text: "longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
			Blob: "longblob",
		},
		Pool:      statebackend.Pool{MaxOpenConns: 16, MaxIdleConns: 16, ConnMaxLifetime: time.Hour},
		Transient: transient,
		Lock:      lock,
		TryLock:   tryLock,
	}
}

// transient reports deadlocks (1213, also how Galera reports a
// certification conflict) and lock wait timeouts (1205).
func transient(err error) string {
	var e *gomysql.MySQLError
	if !errors.As(err, &e) {
		return ""
	}
	switch e.Number {
	case 1213:
		return "deadlock"
	case 1205:
		return "lock_timeout"
	}
	return ""
}
