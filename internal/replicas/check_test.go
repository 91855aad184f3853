package replicas

import (
	"testing"
	"time"
)

// TestReplicaSamplesBounded feeds a replica set the samples of checks at
// several intervals and checks what addSample keeps: at most
// maxReplicaSamples, none older than 2*MaxLag, the latest always, in
// order, and (but for the latest) no two closer than the span allows; so
// a replica's lag can be told within about MaxLag/31 for any lag up to
// 2*MaxLag.
func TestReplicaSamplesBounded(t *testing.T) {
	t.Parallel()
	const maxLag = time.Second
	span := 2 * int64(maxLag)
	for _, every := range []time.Duration{time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, 400 * time.Millisecond} {
		t.Run(every.String(), func(t *testing.T) {
			t.Parallel()
			s := &Set{settings: Settings{MaxLag: maxLag}}
			for i := int64(1); i <= 5000; i++ {
				at := i * int64(every)
				s.addSample(sample{at: at, pos: i})
				n := len(s.samples)
				if n == 0 || n > maxReplicaSamples {
					t.Fatalf("after %d checks: %d samples", i, n)
				}
				if last := s.samples[n-1]; last.at != at {
					t.Fatalf("after %d checks: the latest sample is %+v, want the one at %d", i, last, at)
				}
				for j, x := range s.samples {
					if at-x.at > span {
						t.Fatalf("after %d checks: sample %+v older than 2*MaxLag", i, x)
					}
					if j > 0 && x.at <= s.samples[j-1].at {
						t.Fatalf("after %d checks: samples out of order: %+v", i, s.samples)
					}
					if j > 0 && j < n-1 && x.at-s.samples[j-1].at < span/(maxReplicaSamples-2) {
						t.Fatalf("after %d checks: samples %+v and %+v closer than %v", i, s.samples[j-1], x, time.Duration(span/(maxReplicaSamples-2)))
					}
				}
			}
			// The samples cover the span: a lag just under 2*MaxLag is still
			// measured to within the spacing (or the check interval).
			oldest := s.samples[0].at
			if gap := s.samples[len(s.samples)-1].at - oldest; gap < span-max(span/(maxReplicaSamples-2), int64(every))*2 {
				t.Fatalf("samples span only %v of %v", time.Duration(gap), time.Duration(span))
			}
		})
	}
}

// TestSettingsDefaults checks the defaults and the interval's
// bound.
func TestSettingsDefaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in       Settings
		lag, int time.Duration
		invalid  bool
	}{
		{Settings{}, 5 * time.Second, time.Second, false},
		{Settings{MaxLag: 100 * time.Millisecond}, 100 * time.Millisecond, 20 * time.Millisecond, false},
		{Settings{MaxLag: time.Hour}, time.Hour, time.Second, false},
		{Settings{CheckInterval: 10 * time.Millisecond}, 5 * time.Second, 10 * time.Millisecond, false},
		{Settings{MaxLag: time.Second, CheckInterval: 500 * time.Millisecond}, time.Second, 500 * time.Millisecond, false},
		{Settings{MaxLag: time.Second, CheckInterval: 501 * time.Millisecond}, 0, 0, true},
		{Settings{MaxLag: -1}, 0, 0, true},
		{Settings{CheckInterval: -1}, 0, 0, true},
	}
	for _, tc := range cases {
		got, err := tc.in.withDefaults()
		if tc.invalid {
			if err == nil {
				t.Errorf("%+v: no error", tc.in)
			}
			continue
		}
		if err != nil || got.MaxLag != tc.lag || got.CheckInterval != tc.int {
			t.Errorf("%+v: %+v, %v; want MaxLag %v, CheckInterval %v", tc.in, got, err, tc.lag, tc.int)
		}
	}
}

// TestClockOnlyAdvances: concurrent writes that return out of order
// never move the clock back.
func TestClockOnlyAdvances(t *testing.T) {
	t.Parallel()
	c := NewClock()
	c.last.Store(int64(time.Hour)) // a write "in the future"
	c.wrote()
	if got := c.last.Load(); got != int64(time.Hour) {
		t.Fatalf("clock moved back to %v", time.Duration(got))
	}
	c.last.Store(0)
	c.wrote()
	if c.last.Load() <= 0 {
		t.Fatal("clock did not advance")
	}
}
