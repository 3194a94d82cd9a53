package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/zpipe/zpipe/bench/internal/benchtest"
)

// TestQuickRun runs the built command in smoke mode against the real
// bin/zpipe and checks the table has every variant with a positive rate.
func TestQuickRun(t *testing.T) {
	zpipe, pluginDir := benchtest.Zpipe(t)
	bin := benchtest.Command(t, "otlpbench")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-quick", "-zpipe", zpipe, "-plugin-dir", pluginDir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("otlpbench -quick: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	out := stdout.String()
	if !regexp.MustCompile(`(?m)^\| variant \| records/s \| MB/s \(payload\) \| zpipe CPU µs/record \| ÷ discard \| ÷ file-json \|$`).MatchString(out) {
		t.Fatalf("no table header:\n%s", out)
	}
	for _, v := range []string{"discard", "file-json", "otlp"} {
		re := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(v) + ` \| ([0-9,]+) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+)× \| ([0-9.]+)× \|$`)
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %s row:\n%s", v, out)
		}
		rate, err := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
		if err != nil || rate <= 0 {
			t.Errorf("%s: records/s %q, want a positive number", v, m[1])
		}
		for i, what := range map[int]string{2: "MB/s", 4: "ratio to discard", 5: "ratio to file-json"} {
			if x, err := strconv.ParseFloat(m[i], 64); err != nil || x <= 0 {
				t.Errorf("%s: %s %q, want a positive number", v, what, m[i])
			}
		}
	}
}

func TestBadFlags(t *testing.T) {
	// Existing files, so that each case fails for its own flag.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	valid := []string{"-zpipe", exe, "-plugin-dir", t.TempDir()}
	if _, err := parseOptions(valid, &bytes.Buffer{}); err != nil {
		t.Fatalf("%q: %v", valid, err)
	}
	for _, args := range [][]string{
		{"-batches", "0"},
		{"-runs", "0"},
		{"-records", "0"},
		{"-warmup", "0"},
		{"-window", "100"}, // 100 × 100 records fill the otlp sink's queue
		{"-poll", "0s"},
		{"-collector-decode", "some"},
		{"-zpipe", filepath.Join(t.TempDir(), "missing")},
		{"extra"},
	} {
		if _, err := parseOptions(append(slices.Clone(valid), args...), &bytes.Buffer{}); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// TestShallowRequest checks the collector's counting codec against a full
// unmarshal.
func TestShallowRequest(t *testing.T) {
	req := &collogspb.ExportLogsServiceRequest{}
	want := 0
	for r := range 3 {
		rl := &logspb.ResourceLogs{SchemaUrl: "r"}
		for s := range 2 {
			sl := &logspb.ScopeLogs{SchemaUrl: "s"}
			for i := range 5*r + s {
				sl.LogRecords = append(sl.LogRecords, &logspb.LogRecord{EventName: "zeek.log.conn", TimeUnixNano: uint64(i + 1)})
				want++
			}
			rl.ScopeLogs = append(rl.ScopeLogs, sl)
		}
		req.ResourceLogs = append(req.ResourceLogs, rl)
	}
	data, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var got collogspb.ExportLogsServiceRequest
	if err := (countingCodec{}).Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, rl := range got.GetResourceLogs() {
		for j, sl := range rl.GetScopeLogs() {
			n += len(sl.GetLogRecords())
			if len(sl.GetLogRecords()) != len(req.ResourceLogs[i].ScopeLogs[j].LogRecords) {
				t.Errorf("resource %d scope %d: %d records, want %d", i, j, len(sl.GetLogRecords()), len(req.ResourceLogs[i].ScopeLogs[j].LogRecords))
			}
		}
	}
	if n != want {
		t.Errorf("%d records, want %d", n, want)
	}
	if err := (countingCodec{}).Unmarshal(data[:len(data)-3], &got); err == nil {
		t.Error("a truncated request was accepted")
	}
}
