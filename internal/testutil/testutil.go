// Package testutil holds the waiting that tests of many packages share:
// polling a condition until it holds, or failing the test once a bound
// passes.
package testutil

import (
	"testing"
	"time"
)

// maxPoll bounds the pause between two checks. Pauses start at a
// millisecond and double up to it: a condition that soon holds is seen at
// once, one that takes long is not checked in a tight loop.
const maxPoll = 20 * time.Millisecond

// Eventually polls cond until it holds. If it still does not once timeout
// has passed, it fails the test with "timed out after <timeout> waiting
// for <what>". Like t.Fatal, it must be called from the test's goroutine.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	held := poll(timeout, func() string {
		if cond() {
			return ""
		}
		return "not yet"
	}) == ""
	if !held {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// EventuallyWhy polls check until it returns "". Until then check says why
// the condition does not hold yet; once timeout has passed, the test fails
// with what was awaited and the last reason.
func EventuallyWhy(t testing.TB, timeout time.Duration, what string, check func() string) {
	t.Helper()
	if why := poll(timeout, check); why != "" {
		t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, why)
	}
}

// poll calls check until it returns "" or timeout has passed, and returns
// its last answer.
func poll(timeout time.Duration, check func() string) string {
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for {
		why := check()
		if why == "" || time.Now().After(deadline) {
			return why
		}
		time.Sleep(pause)
		pause = min(2*pause, maxPoll)
	}
}
