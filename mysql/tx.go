package mysql

import (
	"context"
	"database/sql/driver"
)

// database/sql commits and rolls back without a context (driver.Tx has
// none), and go-sql-driver/mysql then waits for the server's answer for as
// long as the read timeout allows: a stalled server holds a COMMIT far past
// the caller's deadline. The connections below run COMMIT and ROLLBACK as
// ordinary statements under the context the transaction began with, which
// the driver watches: when it ends, the driver closes the connection and
// the call returns. The server rolls back a transaction whose connection
// closed before COMMIT reached it; if COMMIT had reached it, the
// transaction may be committed although the call failed (see "Outcome of
// a failed call" in docs/guarantees.md).

// conn is what database/sql uses of a go-sql-driver/mysql connection.
type conn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// connector wraps the driver's connector: its connections' transactions
// honour their context to the end.
type connector struct{ driver.Connector }

// Connect implements driver.Connector.
func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if mc, ok := dc.(conn); ok {
		return ctxConn{mc}, nil
	}
	return dc, nil
}

// ctxConn is a connection whose transactions commit under their context.
type ctxConn struct{ conn }

// BeginTx implements driver.ConnBeginTx.
func (c ctxConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if _, err := c.conn.BeginTx(ctx, opts); err != nil {
		return nil, err
	}
	return &tx{conn: c.conn, ctx: ctx}, nil
}

// tx is a transaction that commits and rolls back under the context it
// began with.
type tx struct {
	conn conn
	ctx  context.Context
}

// Commit implements driver.Tx.
func (t *tx) Commit() error {
	_, err := t.conn.ExecContext(t.ctx, "COMMIT", nil)
	return err
}

// Rollback implements driver.Tx. Once the context has ended, a ROLLBACK
// could wait on a stalled server with nothing to end the wait: the
// connection is dropped instead (driver.ErrBadConn makes database/sql
// close it), which rolls the transaction back on the server.
func (t *tx) Rollback() error {
	if t.ctx.Err() != nil {
		return driver.ErrBadConn
	}
	_, err := t.conn.ExecContext(t.ctx, "ROLLBACK", nil)
	return err
}
