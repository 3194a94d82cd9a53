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

	"github.com/zpipe/zpipe/bench/internal/benchtest"
	"github.com/zpipe/zpipe/core/codec/zeekascii"
)

// TestQuickRun runs the built command in smoke mode against the real
// bin/zpipe, in both formats, and checks the table has a row with a
// positive rate and CPU time for every batch size and variant.
func TestQuickRun(t *testing.T) {
	zpipe, pluginDir := benchtest.Zpipe(t)
	pipeline := benchtest.Pipeline(t, "zeek-logger.hcl")
	bin := benchtest.Command(t, "loggerbench")
	for _, format := range []string{"tsv", "json"} {
		t.Run(format, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, bin, "-quick", "-format", format, "-zpipe", zpipe, "-plugin-dir", pluginDir, "-pipeline", pipeline)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("loggerbench -quick: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
			}
			out := stdout.String()
			for _, size := range []string{"7", "100", "1000"} {
				for _, v := range []string{"zpipe", "zpipe-purego"} {
					re := regexp.MustCompile(`(?m)^\| ` + size + ` \| ` + regexp.QuoteMeta(v) + ` \| ([0-9,]+) \| ([0-9.]+) \| `)
					m := re.FindStringSubmatch(out)
					if m == nil {
						t.Fatalf("no row for %s records/batch, %s:\n%s", size, v, out)
					}
					rate, err := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
					if err != nil || rate <= 0 {
						t.Errorf("%s/%s: records/s %q, want a positive number", size, v, m[1])
					}
					if cpu, err := strconv.ParseFloat(m[2], 64); err != nil || cpu < 0 {
						t.Errorf("%s/%s: CPU µs/record %q, want a number", size, v, m[2])
					}
				}
			}
		})
	}
}

// TestCheck: the file check accepts exactly the expected records and
// header, and finds a changed byte, a missing or an extra line.
func TestCheck(t *testing.T) {
	for _, format := range []string{"tsv", "json"} {
		ld, err := newLoad(10, format)
		if err != nil {
			t.Fatal(err)
		}
		var header []byte
		if format == "tsv" {
			header = zeekascii.AppendHeader(nil, ld.batch, time.Date(2026, 11, 22, 4, 26, 37, 0, time.Local))
		}
		good := append(append(slices.Clone(header), ld.lines...), ld.lines...)
		if err := ld.check(good, 2, format == "tsv"); err != nil {
			t.Fatalf("%s: good file: %v", format, err)
		}
		if err := ld.check(good[len(header):], 2, false); err != nil {
			t.Fatalf("%s: good file without header: %v", format, err)
		}
		changed := slices.Clone(good)
		changed[len(changed)-10]++
		lastLine := bytes.LastIndexByte(good[:len(good)-1], '\n') + 1
		for name, data := range map[string][]byte{
			"changed byte": changed,
			"missing line": good[:lastLine],
			"extra line":   append(slices.Clone(good), good[lastLine:]...),
		} {
			if err := ld.check(data, 2, format == "tsv"); err == nil {
				t.Errorf("%s: %s accepted", format, name)
			}
		}
		if format == "tsv" {
			if err := ld.check(good[1:], 2, true); err == nil {
				t.Error("tsv: a broken header was accepted")
			}
		}
	}
}

func TestBadFlags(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Existing files, so that each case fails for its own flag.
	valid := []string{"-zpipe", exe, "-plugin-dir", t.TempDir(), "-pipeline", exe}
	if _, err := parseOptions(valid, &bytes.Buffer{}); err != nil {
		t.Fatalf("%q: %v", valid, err)
	}
	for _, args := range [][]string{
		{"-sizes", "0"},
		{"-sizes", "7,x"},
		{"-records", "0"},
		{"-runs", "0"},
		{"-warmup", "0"},
		{"-format", "xml"},
		{"-variants", "zpipe,other"},
		{"-pipeline", filepath.Join(t.TempDir(), "missing.hcl")},
		{"-baseline", t.TempDir()}, // no zpipe in it
		{"extra"},
	} {
		if _, err := parseOptions(append(slices.Clone(valid), args...), &bytes.Buffer{}); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}
