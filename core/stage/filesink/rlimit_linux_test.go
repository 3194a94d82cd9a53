package filesink

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/zpipe/zpipe/core/stage/stagetest"
)

// TestMaxOpenFilesLowered: with a soft RLIMIT_NOFILE of 200, the default
// max_open_files (256) is lowered to 100 with a warning, and writing 150
// paths opens no more than 100 descriptors.
func TestMaxOpenFilesLowered(t *testing.T) {
	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	low := saved
	low.Cur = 200
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
			t.Error(err)
		}
	})
	s, out := sinkWithLog(t, map[string]any{"dir": t.TempDir()})
	if log := out.String(); !strings.Contains(log, "max_open_files lowered") || !strings.Contains(log, "lowered_to=100") {
		t.Fatalf("no warning of the lowered bound:\n%s", log)
	}
	var msgs [][][]byte
	for i := range 150 {
		msgs = append(msgs, logMsg(t, fmt.Sprintf("p%03d", i)))
	}
	before := fds(t)
	if err := s.Push(context.Background(), stagetest.Batch(msgs...)); err != nil {
		t.Fatal(err)
	}
	if grown := fds(t) - before; grown > 100 {
		t.Errorf("%d descriptors more after 150 paths, want at most 100", grown)
	}
	finish(t, s)
	if st := s.Stats(); st.Sent != 150 {
		t.Errorf("stats %+v", st)
	}
}

func fds(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
