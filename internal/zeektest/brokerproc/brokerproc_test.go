package brokerproc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/zeektest/refproxy"
)

// helperEnv makes the test binary act as a broker (see TestMain).
const helperEnv = "BROKERPROC_TEST_HELPER"

// TestMain lets the test binary play the broker in a subprocess:
// "proxy" serves the reference proxy until SIGTERM, "proxy-with-child"
// also starts a long-running child process (like a plugin), "in-use"
// fails like a broker whose port is taken, "crash" exits at once.
func TestMain(m *testing.M) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		os.Exit(m.Run())
	}
	if err := helper(mode, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helper(mode string, args []string) error {
	switch mode {
	case "in-use":
		return errors.New("bind tcp://127.0.0.1:1: Address already in use")
	case "crash":
		return errors.New("crashed")
	}
	fs := flag.NewFlagSet("helper", flag.ContinueOnError)
	xsub := fs.String("xsub", "", "")
	xpub := fs.String("xpub", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if mode == "proxy-with-child" {
		child := exec.Command("sleep", "300")
		if err := child.Start(); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "child %d\n", child.Process.Pid)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	return refproxy.Run(ctx, refproxy.Config{XSub: *xsub, XPub: *xpub}, func(xsub, xpub string) {
		fmt.Fprintf(os.Stderr, "serving %s %s\n", xsub, xpub)
	})
}

func helperCommand(t *testing.T, mode string) Command {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := ZmqProxyCommand(self)
	cmd.Env = []string{helperEnv + "=" + mode}
	return cmd
}

func startCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStartProbeStop(t *testing.T) {
	t.Parallel()
	p, err := Start(startCtx(t), helperCommand(t, "proxy-with-child"))
	if err != nil {
		t.Fatal(err)
	}
	ep := p.Endpoints()
	if !strings.HasPrefix(ep.XSub, "tcp://127.0.0.1:") || !strings.HasPrefix(ep.XPub, "tcp://127.0.0.1:") || ep.Metrics != "" {
		t.Fatalf("endpoints %+v", ep)
	}
	if err := Probe(startCtx(t), ep); err != nil {
		t.Fatalf("probe a running broker: %v", err)
	}
	if _, err := p.CPUTime(); err != nil {
		t.Fatal(err)
	}
	var child int
	if _, err := fmt.Sscanf(p.Output()[strings.Index(p.Output(), "child "):], "child %d", &child); err != nil {
		t.Fatalf("no child pid in output %q: %v", p.Output(), err)
	}
	if !contains(groupMembers(p.PID()), child) {
		t.Fatalf("child %d is not in the broker's process group", child)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("stop: %v\noutput:\n%s", err, p.Output())
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("broker still running after Stop")
	}
	if left := groupMembers(p.PID()); len(left) != 0 {
		t.Fatalf("processes %v of the broker's group survived Stop", left)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	_, err := Start(startCtx(t), helperCommand(t, "crash"))
	if err == nil || !strings.Contains(err.Error(), "crashed") || !strings.Contains(err.Error(), "exited before it was ready") {
		t.Fatalf("crashing broker: %v", err)
	}
	// A port taken between picking and binding is retried, then reported.
	_, err = Start(startCtx(t), helperCommand(t, "in-use"))
	if err == nil || strings.Count(err.Error(), "Address already in use") != startAttempts {
		t.Fatalf("port in use: %v", err)
	}
	if _, err := Start(startCtx(t), Command{Kind: ZmqProxy}); err == nil {
		t.Fatal("command without executable accepted")
	}
	if _, err := Start(startCtx(t), ZmqProxyCommand("/nonexistent/broker")); err == nil {
		t.Fatal("missing executable accepted")
	}
	// A broker that never comes up: the probe gives up with the context.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	ports, err := FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	err = Probe(ctx, Endpoints{XSub: fmt.Sprintf("tcp://127.0.0.1:%d", ports[0]), XPub: fmt.Sprintf("tcp://127.0.0.1:%d", ports[1])})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("probe of nothing: %v", err)
	}
}

func TestZpipeCommandArguments(t *testing.T) {
	t.Parallel()
	c := ZpipeCommand("bin/zpipe", "bin", "pipelines/zeek-broker.hcl")
	got := strings.Join(c.Args(Endpoints{XSub: "tcp://127.0.0.1:1", XPub: "tcp://127.0.0.1:2", Metrics: "127.0.0.1:3"}), " ")
	want := "run --plugin-dir bin pipelines/zeek-broker.hcl --var listen_xsub_endpoint=tcp://127.0.0.1:1 --var listen_xpub_endpoint=tcp://127.0.0.1:2 --var metrics_listen=127.0.0.1:3"
	if got != want || !c.Metrics || c.Kind != Zpipe {
		t.Fatalf("args %q, want %q (metrics %v)", got, want, c.Metrics)
	}
}
