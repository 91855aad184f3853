package op

import (
	"reflect"
	"slices"
	"testing"

	"github.com/taskstate/statebackend/state"
)

func TestEveryOperationHasAName(t *testing.T) {
	seen := map[string]Op{}
	for o := range numOps {
		name := o.String()
		if name == "" {
			t.Errorf("operation %d has no name", o)
		}
		if prev, ok := seen[name]; ok {
			t.Errorf("operations %d and %d are both named %q", prev, o, name)
		}
		seen[name] = o
	}
	if got := len(All()); got != int(NumPublic) {
		t.Errorf("All() has %d operations, want %d", got, NumPublic)
	}
	if Open.Public() || !ImportHistory.Public() {
		t.Error("Public() must be true exactly for the store's methods")
	}
}

// TestEveryMethodIsAnOperation checks that every method of state.Backend
// but Close, and of the optional interfaces the store implements, is a
// public operation, each once: a method added without an operation (and
// so without telemetry) fails here.
func TestEveryMethodIsAnOperation(t *testing.T) {
	var names []string
	for _, o := range All() {
		names = append(names, o.String())
	}
	var methods []string
	for _, bt := range []reflect.Type{
		reflect.TypeFor[state.Backend](),
		reflect.TypeFor[state.Pruner](),
		reflect.TypeFor[state.HistoryImporter](),
		reflect.TypeFor[state.Browser](),
		reflect.TypeFor[state.CountEstimator](),
		reflect.TypeFor[state.BoundedCounter](),
		reflect.TypeFor[state.Watcher](),
	} {
		for i := range bt.NumMethod() {
			if m := bt.Method(i).Name; m != "Close" {
				methods = append(methods, m)
			}
		}
	}
	slices.Sort(names)
	slices.Sort(methods)
	if !slices.Equal(names, methods) {
		t.Errorf("operations %v\nmethods %v", names, methods)
	}
}
