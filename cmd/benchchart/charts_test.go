package main

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDrawAll builds every chart of the sample lines and checks that each
// file is a PNG of its chart's size, and that a second build is byte for
// byte the same.
func TestDrawAll(t *testing.T) {
	t.Parallel()
	samples, err := parse("sample.jsonl", strings.NewReader(sampleLines()))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := drawAll(dir, samples)
	if err != nil {
		t.Fatal(err)
	}
	px := func(inches float64) int { return int(inches * dpi) }
	want := map[string][2]int{
		"throughput-sqlite-n2000.png":   {px(9), px(5)},
		"throughput-sqlite-n20000.png":  {px(9), px(5)},
		"throughput-sqlite-n500000.png": {px(9), px(5)},
		"scaling-sqlite-w3.png":         {px(8), px(5)},
		"scaling-sqlite-w4.png":         {px(8), px(5)},
		"scaling-sqlite-w6.png":         {px(8), px(5)},
		"scaling-sqlite-w8.png":         {px(8), px(5)},
		"writers-postgres.png":          {px(12), px(5)},
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	wantNames := []string{
		"throughput-sqlite-n2000.png", "throughput-sqlite-n20000.png", "throughput-sqlite-n500000.png",
		"scaling-sqlite-w3.png", "scaling-sqlite-w4.png", "scaling-sqlite-w6.png", "scaling-sqlite-w8.png",
		"writers-postgres.png",
	}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("wrote %v, want %v", names, wantNames)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		size := want[filepath.Base(f)]
		if got := img.Bounds().Size(); got.X != size[0] || got.Y != size[1] {
			t.Errorf("%s is %dx%d, want %dx%d", f, got.X, got.Y, size[0], size[1])
		}
	}

	again := t.TempDir()
	if _, err := drawAll(again, samples); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		a, _ := os.ReadFile(filepath.Join(dir, name))
		b, err := os.ReadFile(filepath.Join(again, name))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds of the same input (%v)", name, err)
		}
	}
}

// TestDrawLinearAxes covers charts whose values span little: linear axes.
func TestDrawLinearAxes(t *testing.T) {
	t.Parallel()
	input := `{"workload":"W3","dialect":"mysql","impl":"gorm","n":100,"ops":100,"seconds":1}
{"workload":"W3","dialect":"mysql","impl":"raw","n":100,"ops":100,"seconds":1.5}
{"workload":"W10","dialect":"mysql","impl":"raw","n":100,"ops":100,"seconds":1,"writers":1,"mode":"shared","p99_ms":2}
{"workload":"W10","dialect":"mysql","impl":"raw","n":100,"ops":300,"seconds":1,"writers":4,"mode":"shared","p99_ms":3}`
	samples, err := parse("linear.jsonl", strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	files, err := drawAll(t.TempDir(), samples)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 { // no scaling chart: one N only
		t.Errorf("wrote %v, want a throughput and a writers chart", files)
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := filepath.Join(dir, "results.jsonl")
	if err := os.WriteFile(in, []byte(sampleLines()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"-out", filepath.Join(dir, "charts"), in}, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), ".png\n"); n != 8 {
		t.Errorf("printed %d charts, want 8:\n%s", n, out.String())
	}

	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte(sampleLines()+"{oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run([]string{"-out", filepath.Join(dir, "bad"), in, bad}, strings.NewReader(""), &out)
	if err == nil || !strings.Contains(err.Error(), "bad.jsonl:") {
		t.Fatalf("error %v, want one naming bad.jsonl and its line", err)
	}
	if err := run([]string{"-out", dir}, strings.NewReader(""), &out); err == nil {
		t.Error("no input files: no error")
	}
	if err := run([]string{"-out", dir, "-"}, strings.NewReader("\n# nothing\n"), &out); err == nil {
		t.Error("empty input: no error")
	}
}

// TestDrawWritersCPU covers W10 lines with CPU figures: the writers chart
// gets its third panel and is wider.
func TestDrawWritersCPU(t *testing.T) {
	t.Parallel()
	var input strings.Builder
	for _, level := range []int{1, 8, 32} {
		fmt.Fprintf(&input, `{"workload":"W10","dialect":"postgres","impl":"gorm","n":100,"ops":%d,"seconds":10,"writers":%d,"mode":"shared","p99_ms":%d,"client_cpu_s":%g,"server_cpu_s":%g,"machine_busy":0.9,"cores":2}`+"\n",
			100*level, level, level, 0.5*float64(level), float64(level))
	}
	samples, err := parse("cpu.jsonl", strings.NewReader(input.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got := samples[1].coresUsed(); got != 1.2 {
		t.Errorf("cores used at 8 writers = %v, want (4 + 8) / 10", got)
	}
	files, err := drawAll(t.TempDir(), samples)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Fatalf("wrote %v, want the writers chart only", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := img.Bounds().Size().X, int(16*dpi); got != want {
		t.Errorf("writers chart with CPU is %d px wide, want %d (three panels)", got, want)
	}
}
