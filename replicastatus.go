package statebackend

import (
	"context"
	"time"
)

// ReplicaStatus is what a backend knows of one of its read replicas.
type ReplicaStatus struct {
	// Replica is the replica's index in the WithReadReplicas arguments.
	Replica int
	// Serving reports whether the replica may serve reads now: it answered
	// its last check, no read failed on it since, and it is within MaxLag.
	// A read may still go to the primary so that the caller reads its own
	// writes.
	Serving bool
	// Err is why the last check of the replica, or the last read on it,
	// failed; nil when it answered.
	Err error
	// CheckedAt is when the backend last read the replica's position; zero
	// before the first check.
	CheckedAt time.Time
	// Lag bounds how far behind the primary the replica was at CheckedAt:
	// it had replayed every transaction committed on the primary more than
	// Lag before. When the backend has not seen the replica reach any
	// position the primary had in the last 2*MaxLag, Lag is how long it has
	// seen the replica behind, a lower bound, and Serving is false.
	Lag time.Duration
	// Behind is how far the replica's position was behind the primary's at
	// CheckedAt, in the database's unit (bytes of write-ahead log on
	// Postgres); 0 when it had replayed everything.
	Behind int64
	// Reads is how many reads the replica has served.
	Reads int64
}

// Replicas checks the store's read replicas now and returns their status,
// in the order given to WithReadReplicas; nil when it has none. It fails
// with ErrClosed after Close and with the context's error when ctx ends. A
// replica that does not answer is no error: its status says so.
func (s *Store) Replicas(ctx context.Context) ([]ReplicaStatus, error) {
	if err := s.eng.Check(ctx); err != nil {
		return nil, err
	}
	if s.replicas == nil {
		return nil, nil
	}
	statuses := s.replicas.Statuses(ctx)
	if err := s.eng.Check(ctx); err != nil {
		return nil, err
	}
	out := make([]ReplicaStatus, len(statuses))
	for i, st := range statuses {
		out[i] = ReplicaStatus(st)
	}
	return out, nil
}
