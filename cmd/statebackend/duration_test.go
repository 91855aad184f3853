package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"1m", time.Minute},
		{"90m", 90 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"720h", 30 * day},
		{"30d", 30 * day},
		{"1.5d", 36 * time.Hour},
		{"4w", 28 * day},
		{"2w3d", 17 * day},
		{"1w2d3h30m", 9*day + 3*time.Hour + 30*time.Minute},
		{"45s", 45 * time.Second},
		{"1500ms", 1500 * time.Millisecond},
		{"1d12h", 36 * time.Hour},
	} {
		got, err := parseDuration("--older-than", tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%q: got %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", "give a positive duration"},
		{"0", "give a positive duration"},
		{"0d", "give a positive duration"},
		{"-1h", "give a positive duration"},
		{"30", "give a positive duration"},
		{"d", "give a positive duration"},
		{"1x", "give a positive duration"},
		{"1 h", "give a positive duration"},
		{"1H", "give a positive duration"},
		{"1y", "there is no year unit"},
		{"2years", "there is no year unit"},
		{"1mo", "there is no month unit"},
		{"3M", "there is no month unit"},
		{"1w1month", "there is no month unit"},
		{"100000000w", "too long"},
		{"2562047h2562047h", "too long"},
	} {
		_, err := parseDuration("--older-than", tc.in)
		var usage *usageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "--older-than ") {
			t.Errorf("%q: got %v, want a usage error naming --older-than: %s", tc.in, err, tc.want)
		}
	}
}
