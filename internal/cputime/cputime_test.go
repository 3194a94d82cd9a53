package cputime

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestTree: the tree of this process holds a child it started, under the
// child's program name, and the tree of a process that is gone is an
// error.
func TestTree(t *testing.T) {
	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	}()
	got, err := Tree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["sleep"]; !ok {
		t.Errorf("no sleep child in %v", got)
	}
	if len(got) != 2 {
		t.Errorf("programs %v, want this test and sleep", got)
	}

	_ = child.Process.Kill()
	_ = child.Wait()
	if got, err := Tree(child.Process.Pid); err == nil {
		t.Errorf("a process that is gone: %v, no error", got)
	}
}

func TestPrograms(t *testing.T) {
	before := Programs{"zpipe": 2 * time.Second, "plugin": time.Second}
	after := Programs{"zpipe": 5 * time.Second, "plugin": 2 * time.Second, "new": time.Second}
	d := after.Sub(before)
	want := Programs{"zpipe": 3 * time.Second, "plugin": time.Second, "new": time.Second}
	if len(d) != len(want) {
		t.Fatalf("got %v, want %v", d, want)
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s: %v, want %v", k, d[k], v)
		}
	}
	if d.Total() != 5*time.Second {
		t.Errorf("total %v, want 5s", d.Total())
	}
}

func TestSelf(t *testing.T) {
	if Self() <= 0 {
		t.Errorf("this process used %v of CPU", Self())
	}
}
