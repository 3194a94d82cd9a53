package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/bench/internal/benchtest"
)

// TestQuickRun runs the built driver in smoke mode against the reference
// broker, which it starts as a subprocess of its own.
func TestQuickRun(t *testing.T) {
	bin := benchtest.Command(t, "brokerbench")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-quick")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("brokerbench -quick: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	out := stdout.String()
	header := regexp.MustCompile(`(?m)^\s*metric\s+zmqproxy\s*$`)
	if !header.MatchString(out) {
		t.Fatalf("no table with a zmqproxy column:\n%s", out)
	}
	for _, metric := range []string{"64 B  events/s", "1 KiB  MB/s (payload)", "1 KiB  broker CPU µs/event", "round trip p50 µs", "round trip p99 µs"} {
		re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(metric) + `\s+([0-9.]+)\s*$`)
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %q row:\n%s", metric, out)
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil || (v <= 0 && !strings.Contains(metric, "CPU")) {
			t.Errorf("%s = %q, want a positive number", metric, m[1])
		}
	}
	if strings.Contains(out, "lost events") {
		t.Errorf("the reference lost events:\n%s", out)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-sizes", "8"},
		{"-sizes", "64,x"},
		{"-publishers", "0"},
		{"-repeat", "0"},
		{"-count", "0", "-duration", "0"},
		{"-zpipe", filepath.Join(t.TempDir(), "missing")},
		{"extra"},
	} {
		var stderr bytes.Buffer
		if err := run(context.Background(), args, &bytes.Buffer{}, &stderr); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}
