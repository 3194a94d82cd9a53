package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour)
	for range 5 {
		l.Warn("bad input", "k", "v")
	}
	if n := strings.Count(buf.String(), "bad input"); n != 1 {
		t.Fatalf("logged %d lines within the interval:\n%s", n, buf.String())
	}
	l.every = 0 // the interval has passed
	l.Warn("bad input")
	if !strings.Contains(buf.String(), "suppressed_since_last=4") {
		t.Fatalf("the next line does not say how many were left out:\n%s", buf.String())
	}
}
