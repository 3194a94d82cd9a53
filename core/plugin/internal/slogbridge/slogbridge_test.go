package slogbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestLineWriter(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	w := NewLineWriter(func(l string) {
		mu.Lock()
		lines = append(lines, l)
		mu.Unlock()
	})
	for _, chunk := range []string{"one\ntw", "o\r\n", "\n", "three", "\nfour"} {
		if n, err := w.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	if got := strings.Join(lines, "|"); got != "one|two|three" {
		t.Fatalf("lines before flush: %q", got)
	}
	w.Flush()
	w.Flush()
	if got := strings.Join(lines, "|"); got != "one|two|three|four" {
		t.Fatalf("lines after flush: %q", got)
	}

	lines = nil
	long := strings.Repeat("x", maxLine+10)
	if _, err := w.Write([]byte(long)); err != nil {
		t.Fatal(err)
	}
	// An overlong partial line is passed on without waiting for its end.
	if len(lines) != 1 || lines[0] != long {
		t.Fatalf("an overlong partial line was held back: %d lines", len(lines))
	}
}

func newCapture(level slog.Level) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level})), &buf
}

func TestHCLogAdapter(t *testing.T) {
	l, buf := newCapture(slog.LevelInfo)
	h := Logger(l).Named("plugin").Named("stdio").With("pid", 42)
	h.Debug("hidden")
	h.Trace("hidden too")
	h.Info("shown", "k", "v")
	h.Error("failed", "err", "boom")
	h.Log(hclog.Off, "never")
	out := buf.String()
	if strings.Contains(out, "hidden") || strings.Contains(out, "never") {
		t.Fatalf("disabled levels logged:\n%s", out)
	}
	for _, want := range []string{
		`level=INFO msg=shown logger=plugin.stdio pid=42 k=v`,
		`level=ERROR msg=failed logger=plugin.stdio pid=42 err=boom`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if h.GetLevel() != hclog.Info || h.IsDebug() || !h.IsInfo() || !h.IsError() {
		t.Errorf("level: %v", h.GetLevel())
	}
	if h.Name() != "plugin.stdio" || h.ResetNamed("x").Name() != "x" {
		t.Errorf("names: %q", h.Name())
	}
	if args := h.ImpliedArgs(); len(args) != 2 {
		t.Errorf("implied args %v", args)
	}

	tl, _ := newCapture(LevelTrace)
	if Logger(tl).GetLevel() != hclog.Trace {
		t.Error("trace level not seen")
	}
	ol, _ := newCapture(slog.LevelError + 4)
	if Logger(ol).GetLevel() != hclog.Off {
		t.Error("off level not seen")
	}

	buf.Reset()
	std := h.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	std.Print("[WARN] careful")
	std.Print("[DEBUG] quiet")
	std.Print("plain")
	out = buf.String()
	if !strings.Contains(out, "level=WARN msg=careful") || strings.Contains(out, "quiet") || !strings.Contains(out, "level=INFO msg=plain") {
		t.Fatalf("standard logger:\n%s", out)
	}
}

func TestHCLogJSONHandler(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(NewHCLogJSONHandler(&buf, LevelTrace))
	l.Log(context.Background(), LevelTrace, "t")
	l.Debug("d")
	l.Info("i", "k", 1, slog.Group("g", "x", "y"))
	l.Warn("w")
	l.Error("e")
	var levels []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		ts, _ := m["@timestamp"].(string)
		if _, err := time.Parse(hclogTimeFormat, ts); err != nil {
			t.Fatalf("timestamp %q: %v", ts, err)
		}
		if _, ok := m["@message"].(string); !ok {
			t.Fatalf("no message: %q", line)
		}
		if m["@message"] == "i" && (m["k"] != float64(1) || m["g"].(map[string]any)["x"] != "y") {
			t.Fatalf("attributes lost: %q", line)
		}
		levels = append(levels, m["@level"].(string))
	}
	if got := strings.Join(levels, ","); got != "trace,debug,info,warn,error" {
		t.Fatalf("levels %s", got)
	}
}

func TestLibraryLoggerDemotesOwnInfo(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := LibraryLogger(l)
	h.Info("plugin process exited", "id", 1)
	if buf.Len() != 0 {
		t.Fatalf("library info message logged at info: %s", buf.String())
	}
	h.Named("zpipe-transport-cgo").Info("socket open")
	h.Warn("plugin failed")
	out := buf.String()
	if !strings.Contains(out, "socket open") || !strings.Contains(out, "plugin failed") {
		t.Fatalf("plugin records or warnings lost: %s", out)
	}
}
