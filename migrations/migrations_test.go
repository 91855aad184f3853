package migrations_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/taskstate/statebackend/migrations"
	"github.com/taskstate/statebackend/state"
)

// TestVersionsArePositions checks the rules every migration follows: its
// Version is its position, its id is unique and parses back, and
// MinCompatible never exceeds its own version nor goes down.
func TestVersionsArePositions(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	prevMin := 1
	for i, m := range migrations.All() {
		if m.Version != i+1 {
			t.Errorf("migration %q at position %d has version %d", m.Name, i+1, m.Version)
		}
		if want := fmt.Sprintf("%04d_%s", m.Version, m.Name); m.ID() != want || seen[m.ID()] {
			t.Errorf("migration %d: id %q (want %q, once)", m.Version, m.ID(), want)
		}
		seen[m.ID()] = true
		if m.MinCompatible < prevMin || m.MinCompatible > m.Version {
			t.Errorf("migration %d: MinCompatible %d, want %d to %d", m.Version, m.MinCompatible, prevMin, m.Version)
		}
		prevMin = m.MinCompatible
		if len(m.Steps) == 0 || m.Description == "" {
			t.Errorf("migration %d has no steps or no description", m.Version)
		}
	}
}

// TestFinalIndexPredicateIsTheFinalStatuses checks that the partial
// index of migration 2 holds exactly the records of final statuses: if the
// final statuses change, the index needs a new migration.
func TestFinalIndexPredicateIsTheFinalStatuses(t *testing.T) {
	t.Parallel()
	var final []string
	for _, s := range state.Statuses() {
		if s.Final() {
			final = append(final, "'"+string(s)+"'")
		}
	}
	slices.Sort(final)
	if want := "history_status IN (" + strings.Join(final, ", ") + ")"; migrations.FinalIndexPredicate != want {
		t.Fatalf("FinalIndexPredicate is %q, the final statuses make %q", migrations.FinalIndexPredicate, want)
	}
}
