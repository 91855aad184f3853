package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	gormsqlite "gorm.io/driver/sqlite"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/state"
)

// Dialector is the gorm.Dialector of one SQLite database, with the
// backend's settings for it (it implements dialect.Database). Pass it
// to statebackend.Open.
type Dialector struct {
	*gormsqlite.Dialector
	path   string
	memory bool
	cfg    config
}

var _ dialect.ReadOnlyDatabase = (*Dialector)(nil)

// Option configures Open.
type Option func(*config)

type config struct {
	readOnly, immutable bool
	// immutableWhenClosed opens a closed database immutable (see
	// ImmutableWhenClosed).
	immutableWhenClosed bool
	// noMemoryMap maps none of the file (see WithoutMemoryMap).
	noMemoryMap bool
	// checkpointPages is the WAL's size in pages that starts a checkpoint
	// (see WithCheckpointEvery); 0 leaves SQLite's default.
	checkpointPages int
	// checkpointSet tells WithCheckpointEvery(0), which Initialize
	// refuses, from no option at all.
	checkpointSet bool
}

// busyTimeout is how long SQLite itself waits for a lock another
// connection holds before it reports SQLITE_BUSY. It is short on purpose:
// that wait happens inside SQLite, where no context can end it, so it
// bounds how far a call can overshoot its deadline. The backend waits
// longer by retrying (see dialect.TransientBusy), and there the
// caller's context is honoured.
const busyTimeout = 20 * time.Millisecond

// mmapSize is how much of the database file each connection memory-maps
// (PRAGMA mmap_size): 256 MiB.
const mmapSize = "268435456"

// WithoutMemoryMap reads and writes the database file through SQLite's
// page cache only, without memory-mapping it (by default each connection
// maps up to 256 MiB of it, which makes repeated reads cheaper and
// counts the mapped pages in the process's resident memory). For a
// process that reads a large file once, such as a copy, whose resident
// memory should not grow with the file.
func WithoutMemoryMap() Option { return func(c *config) { c.noMemoryMap = true } }

// WithCheckpointEvery copies the write-ahead log into the database file
// once the log holds pages pages (PRAGMA wal_autocheckpoint; SQLite's
// default is 1,000 pages, 4 MiB). For a process that writes much at once,
// such as a copy into the file: a page written again and again between two
// checkpoints reaches the database file once, and fewer checkpoints wait
// for the disk. The log then grows to about pages times 4 KiB before each
// checkpoint, and reads look through a longer log. pages must be positive;
// Initialize reports ErrInvalidArgument otherwise. A read-only database
// writes no log, and the option does nothing there.
func WithCheckpointEvery(pages int) Option {
	return func(c *config) { c.checkpointPages = pages; c.checkpointSet = true }
}

// pragma is a PRAGMA every new connection runs.
type pragma struct{ name, value string }

// pragmas returns the PRAGMAs of every new connection of d.
func (d *Dialector) pragmas() []pragma {
	mmap := mmapSize
	if d.cfg.noMemoryMap {
		mmap = "0"
	}
	ps := []pragma{{"mmap_size", mmap}}
	if d.cfg.checkpointPages > 0 && !d.cfg.readOnly {
		ps = append(ps, pragma{"wal_autocheckpoint", strconv.Itoa(d.cfg.checkpointPages)})
	}
	return ps
}

// Open returns the dialector of the SQLite database file at path, created
// if missing (unless ReadOnly). The path ":memory:" (or "") gives a
// private in-memory database, gone when the backend is closed.
func Open(path string, opts ...Option) *Dialector {
	var cfg config
	for _, opt := range opts {
		opt(&cfg)
	}
	return open(path, cfg)
}

// open returns the dialector of path with the settings cfg.
func open(path string, cfg config) *Dialector {
	if path == ":memory:" || path == "" {
		// A named shared-cache database lives as long as a connection to it
		// is open: the pool keeps exactly one.
		return &Dialector{
			Dialector: &gormsqlite.Dialector{DSN: "file:statebackend-" + randomName() + "?mode=memory&cache=shared&_txlock=immediate&_busy_timeout=" + strconv.FormatInt(busyTimeout.Milliseconds(), 10)},
			memory:    true,
			cfg:       cfg,
		}
	}
	return &Dialector{
		Dialector: &gormsqlite.Dialector{DSN: fileDSN(path, cfg)},
		path:      path,
		cfg:       cfg,
	}
}

// fileDSN returns the DSN that opens the file at path as cfg says.
func fileDSN(path string, cfg config) string {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(busyTimeout.Milliseconds(), 10))
	q.Set("_foreign_keys", "0")
	q.Set("cache", "private")
	switch {
	case cfg.immutable:
		q.Set("mode", "ro")
		q.Set("immutable", "1")
	case cfg.readOnly:
		// No journal mode: switching it is a write. A WAL file stays WAL.
		q.Set("mode", "ro")
	default:
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "NORMAL")
		q.Set("_txlock", "immediate")
	}
	return "file:" + escapePath(path) + "?" + q.Encode()
}

// Dialect implements dialect.Database.
func (d *Dialector) Dialect() dialect.Dialect {
	pool := dialect.Pool{MaxOpenConns: 8, MaxIdleConns: 8}
	if d.memory {
		pool = dialect.Pool{MaxOpenConns: 1, MaxIdleConns: 1}
	}
	return dialect.Dialect{
		Name:      "sqlite",
		Namespace: d.path,
		// Without AUTOINCREMENT SQLite still hands out increasing ids (the
		// largest + 1) and skips updating sqlite_sequence on every insert;
		// an id could only be reused after the newest history row is
		// deleted, and history ids only order records of equal timestamps.
		Columns:           dialect.ColumnTypes{Serial: "integer PRIMARY KEY"},
		Pool:              pool,
		PrepareStatements: true,
		SingleWriter:      !d.cfg.readOnly,
		CostlyCancel:      true,
		Transient:         transient,
		ReadOnly:          d.cfg.readOnly,
		ReadOnlyError:     d.readOnlyErr,
		Hints:             dialect.QueryHints{UnindexedHistoryTimestamp: "+history_timestamp"},
		Lock:              lock,
		PartialIndexes:    true,
		// One transaction writes at a time and takes its ids while it
		// holds the lock: ids become visible in commit order.
		Commits: dialect.Commits{InIDOrder: true},
	}
}

// Initialize implements gorm.Dialector: it opens the database through a
// connector of its own (see newConnector), which memory-maps the database
// file on every connection (reads and index updates then copy less),
// without registering a driver in the process.
//
// When the file cannot be opened as asked, the error says why in terms of
// the file (see explainOpen), not SQLite's "unable to open database file".
func (d *Dialector) Initialize(db *gorm.DB) error {
	if d.memory && d.cfg.readOnly {
		return fmt.Errorf("a read-only in-memory database would always be empty: %w", state.ErrInvalidArgument)
	}
	if d.cfg.checkpointSet && d.cfg.checkpointPages < 1 {
		return fmt.Errorf("checkpoint every %d pages: want a positive number of pages: %w", d.cfg.checkpointPages, state.ErrInvalidArgument)
	}
	inner := *d.Dialector
	if !d.memory {
		if err := checkNotDirectory(d.path); err != nil {
			return err
		}
		switch {
		case !d.cfg.readOnly:
			// SQLite opens a file it may not write read-only without a word,
			// and only the first write would fail; say so now.
			if err := checkWritable(d.path); err != nil {
				return err
			}
		case !d.cfg.immutable:
			immutable, err := d.readOnlyMode()
			if err != nil {
				return err
			}
			if immutable {
				inner.DSN = fileDSN(d.path, config{readOnly: true, immutable: true})
			}
		}
	}
	conn, err := newConnector(inner.DSN, d.pragmas())
	if err != nil {
		return d.explainOpen(err)
	}
	inner.Conn = sql.OpenDB(conn)
	if err := inner.Initialize(db); err != nil {
		return d.explainOpen(err)
	}
	if !d.memory {
		// Opening reads nothing; the first read finds out whether a WAL
		// database can be read here (its -shm file). Find out now.
		var n int
		if err := db.ConnPool.QueryRowContext(context.Background(), "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
			return d.explainOpen(err) // gorm.Open closes the pool
		}
	}
	return nil
}

// escapePath escapes the characters that would end a file URI's path.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

func randomName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
