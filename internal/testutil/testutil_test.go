package testutil

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the calling goroutine, as testing.T's does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a fatalRecorder on a goroutine of its own and returns
// what Fatalf recorded ("" when f returned without failing).
func run(f func(testing.TB)) string {
	r := &fatalRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.msg
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	var calls atomic.Int32
	msg := run(func(tb testing.TB) {
		Eventually(tb, time.Minute, "the third call", func() bool { return calls.Add(1) == 3 })
	})
	if msg != "" {
		t.Fatalf("failed: %s", msg)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("condition checked %d times, want 3", n)
	}
}

func TestEventuallyFailsAfterTheTimeout(t *testing.T) {
	msg := run(func(tb testing.TB) {
		Eventually(tb, 10*time.Millisecond, "a condition that never holds", func() bool { return false })
	})
	if want := "timed out after 10ms waiting for a condition that never holds"; msg != want {
		t.Fatalf("failure %q, want %q", msg, want)
	}
}

func TestEventuallyWhyReportsTheLastReason(t *testing.T) {
	var calls int
	msg := run(func(tb testing.TB) {
		EventuallyWhy(tb, 10*time.Millisecond, "a count of zero", func() string {
			calls++
			return fmt.Sprintf("count %d", calls)
		})
	})
	if want := fmt.Sprintf("timed out after 10ms waiting for a count of zero: count %d", calls); msg != want {
		t.Fatalf("failure %q, want %q", msg, want)
	}
}
