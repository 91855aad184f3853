package main

import (
	"context"
	"os"
	"slices"
	"testing"
)

func TestMain(m *testing.M) {
	registerSQLiteDriver()
	os.Exit(m.Run())
}

func TestParseFlagsWorkloads(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr bool
	}{
		{"default is W1-W8", nil, []string{"W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8"}, false},
		{"named only when named", []string{"-workloads", "w11,W10,W2"}, []string{"W2", "W10", "W11"}, false},
		{"unknown", []string{"-workloads", "W15"}, nil, true},
		{"W14 only when named", []string{"-workloads", "W14"}, []string{"W14"}, false},
		{"W13 only when named", []string{"-workloads", "W13"}, []string{"W13"}, false},
		{"w13-poll", []string{"-w13-poll", "0"}, nil, true},
		{"W12 only when named", []string{"-workloads", "W12"}, []string{"W12"}, false},
		{"w12-n", []string{"-w12-n", "0"}, nil, true},
		{"w12-reps", []string{"-w12-reps", "0"}, nil, true},
		{"W9 only when named", []string{"-workloads", "W9"}, []string{"W9"}, false},
		{"bad writers", []string{"-writers", "1,x"}, nil, true},
		{"zero writers", []string{"-writers", "0"}, nil, true},
		{"no duration nor ops", []string{"-w10-duration", "0"}, nil, true},
		{"ops instead of duration", []string{"-w10-duration", "0", "-w10-ops", "10"}, []string{"W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8"}, false},
		{"w11-n", []string{"-w11-n", "0"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parseFlags(tt.args)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseFlags(%q) succeeded", tt.args)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range cfg.workloads {
				got = append(got, w.name)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("workloads %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseLevels(t *testing.T) {
	t.Parallel()
	got, err := parseLevels("1, 8,32,64")
	if err != nil || !slices.Equal(got, []int{1, 8, 32, 64}) {
		t.Fatalf("parseLevels = %v, %v", got, err)
	}
}

// testConfig returns a SQLite configuration with small W10 and W11 sizes.
func testConfig(t *testing.T) *config {
	t.Helper()
	cfg, err := parseFlags([]string{"-n", "200", "-writers", "1,4", "-w10-ops", "400", "-w11-n", "300"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// testBench returns a bench of impl on a fresh SQLite environment, closed
// at the end of the test.
func testBench(t *testing.T, cfg *config, impl string) *bench {
	t.Helper()
	ctx := context.Background()
	e, err := newEnv(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.close(ctx) })
	st, err := openStore(ctx, e, impl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &bench{cfg: cfg, data: newDataset(cfg.n), impl: impl, env: e, st: st}
}
