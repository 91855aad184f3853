package engine

import (
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/internal/retry"
)

// OpenGorm runs gorm.Open with the configuration config returns, retrying
// the errors dl calls transient: processes opening one new SQLite file at
// once contend to switch it to WAL, and SQLite reports the loser's
// SQLITE_BUSY at once, without waiting for the busy timeout.
func OpenGorm(d gorm.Dialector, dl dialect.Dialect, log *slog.Logger, config func() *gorm.Config) (*gorm.DB, error) {
	p := retry.New()
	for {
		db, err := gorm.Open(d, config()) // closes what it opened when it fails
		if err == nil {
			return db, nil
		}
		pause, ok := p.Next(dl.Transient(err), false)
		if !ok {
			return db, err
		}
		log.Debug("open failed on a transient error, retrying", "operation", op.Open.String(), "err", err)
		time.Sleep(pause)
	}
}
