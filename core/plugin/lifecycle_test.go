package plugin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/testutil"
)

// processGone reports whether pid no longer runs (a zombie counts as gone).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "zpipe-transport-script")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notExec := filepath.Join(dir, "zpipe-transport-plain")
	if err := os.WriteFile(notExec, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		want       []string
	}{
		{"no path", "", []string{"no path given"}},
		{"missing binary", filepath.Join(dir, "zpipe-transport-missing"), []string{"zpipe-transport-missing", "no such file"}},
		{"directory", dir, []string{"not a regular file"}},
		{"not executable", notExec, []string{"not executable"}},
		{"exits at once", "/bin/true", []string{"is it a zpipe transport plugin"}},
		{"not a plugin", writeScript(t, "echo hello; exec sleep 30"), []string{"hello", "is it a zpipe transport plugin"}},
		{"wrong protocol version", writeScript(t, `echo "1|99|unix|/nonexistent.sock|grpc"; exec sleep 30`),
			[]string{"Plugin version: 99", "protocol version 1"}},
		{"net/rpc plugin", writeScript(t, `echo "1|1|unix|/nonexistent.sock|netrpc"; exec sleep 30`),
			[]string{"unsupported plugin protocol"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			logger, _ := testLogger(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			h, err := StartTransport(ctx, HostConfig{Path: c.path, Logger: logger})
			if err == nil {
				_ = h.Shutdown()
				t.Fatal("StartTransport succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestBrokenSchemaIsRefused(t *testing.T) {
	t.Parallel()
	wrapper := writeScript(t, "ZPIPE_TESTTRANSPORT_MODE=broken-schema exec "+testPluginPath)
	h := startHost(t, HostConfig{Path: wrapper, Name: "transport-broken"})
	_, err := h.Describe(testContext(t))
	if err == nil {
		t.Fatal("Describe accepted a broken schema")
	}
	for _, w := range []string{`"transport-broken"`, `"memsink"`, `attribute "exit_after"`, "want a number"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %s", err, w)
		}
	}
}

func TestPluginRunByHand(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(testPluginPath)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, MagicCookieKey+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("run by hand: %v, want exit status 1", err)
	}
	if !strings.Contains(string(out), "zpipe-transport-test is a zpipe transport plugin") || !strings.Contains(string(out), "zpipe plugins") {
		t.Fatalf("run by hand printed %q", out)
	}
}

func TestShutdownKillsPlugin(t *testing.T) {
	t.Parallel()
	h := startHost(t, HostConfig{})
	ctx := testContext(t)
	openSocket(t, ctx, h, "s", "nullsink", `{}`)
	pid := h.PID()
	if pid <= 0 || processGone(pid) || !h.Up() {
		t.Fatalf("plugin pid %d is not running", pid)
	}
	recvDone := make(chan error, 1)
	openSocket(t, ctx, h, "r", "memsource", `{"queue":"q"}`)
	go func() {
		recvDone <- h.Receive(ctx, "r", transport.ReceiveOptions{}, func(*message.Batch) error { return nil })
	}()
	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "the plugin process to end", func() bool { return processGone(pid) })
	if err := h.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := h.Open(ctx, transport.SocketSpec{ID: "x", Kind: "nullsink"}); !errors.Is(err, ErrHostClosed) {
		t.Fatalf("Open after Shutdown: %v", err)
	}
	if _, err := h.Sender(ctx, "s", transport.SendOptions{}); !errors.Is(err, ErrHostClosed) {
		t.Fatalf("Sender after Shutdown: %v", err)
	}
	select {
	case err := <-recvDone:
		if !errors.Is(err, ErrHostClosed) {
			t.Fatalf("Receive across Shutdown: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Receive did not end at Shutdown")
	}
	if h.PID() != 0 || h.Up() {
		t.Fatalf("PID() = %d, Up() = %v after Shutdown", h.PID(), h.Up())
	}
}

func TestPluginDiesWithHost(t *testing.T) {
	t.Parallel()
	host := exec.Command(os.Args[0], "-test.run=^$")
	// The host's socket directory goes to TMPDIR: the killed host cannot
	// remove it, the test can.
	host.Env = append(os.Environ(), hostModeEnv+"="+testPluginPath, "TMPDIR="+t.TempDir())
	stdin, err := host.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = host.Process.Kill(); _ = host.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read plugin pid from host: %v", err)
	}
	var pid int
	if _, err := fmt.Sscanf(line, "pid %d", &pid); err != nil || pid <= 0 {
		t.Fatalf("host said %q", line)
	}
	if processGone(pid) {
		t.Fatalf("plugin %d is not running", pid)
	}
	if err := host.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = host.Wait()
	testutil.Eventually(t, 20*time.Second, "the plugin to die with its host", func() bool { return processGone(pid) })
}

func TestWatchParent(t *testing.T) {
	t.Parallel()
	gone := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchParent(ctx, os.Getppid()+1, 10*time.Millisecond, func() { close(gone) })
	select {
	case <-gone:
	case <-time.After(20 * time.Second):
		t.Fatal("a changed parent was not noticed")
	}

	// The real parent is still there: nothing happens until ctx ends.
	called := make(chan struct{}, 1)
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		watchParent(ctx2, os.Getppid(), 10*time.Millisecond, func() { called <- struct{}{} })
		close(done)
	}()
	time.Sleep(100 * time.Millisecond)
	cancel2()
	<-done
	select {
	case <-called:
		t.Fatal("watchParent fired while the parent lives")
	default:
	}
}

// TestNoGoroutineLeaks is not parallel: it counts the goroutines of the
// whole test binary.
func TestNoGoroutineLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		ctx := testContext(t)
		logger, _ := testLogger(t)
		h, err := StartTransport(ctx, HostConfig{Path: testPluginPath, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = h.Shutdown() }()
		openSocket(t, ctx, h, "in", "memsink", `{"queue":"leak"}`)
		openSocket(t, ctx, h, "out", "memsource", `{"queue":"leak"}`)
		snd, err := h.Sender(ctx, "in", transport.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			if err := snd.Send(ctx, stringBatch(numbered("m", 100)...)); err != nil {
				t.Fatal(err)
			}
		}
		if err := snd.Close(); err != nil {
			t.Fatal(err)
		}
		n := 0
		err = h.Receive(ctx, "out", transport.ReceiveOptions{}, func(b *message.Batch) error {
			n += b.Len()
			if n == 2000 {
				return errDone
			}
			return nil
		})
		if !errors.Is(err, errDone) {
			t.Fatal(err)
		}
		// A sender left open and a receive stream in progress end with the host.
		if _, err := h.Sender(ctx, "in", transport.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			_ = h.Receive(rctx, "out", transport.ReceiveOptions{}, func(*message.Batch) error { return nil })
		}()
		if err := h.Shutdown(); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Shutdown:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
