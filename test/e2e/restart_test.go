package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// TestTransportPluginCrash: the transport plugin of a running broker is
// killed; zpipe notices, restarts it with its sockets and link, counts the
// restart, and events flow again once the nodes have reconnected.
func TestTransportPluginCrash(t *testing.T) {
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) { testTransportPluginCrash(t, StartBroker(t, kind)) })
}

func testTransportPluginCrash(t *testing.T, b *brokerproc.Process) {
	ctx := waitCtx(t, 3*waitTimeout)
	manager := startNode(t, b, zeektest.Config{Name: "manager", Role: "manager", Topics: []string{"zeek.test.events"}, KnownNodes: cluster})
	worker := startNode(t, b, zeektest.Config{Name: "worker-1", KnownNodes: cluster})
	if err := worker.WaitSubscriptionSeen(ctx, "zeek.test.events"); err != nil {
		t.Fatal(err)
	}
	if err := deliver(ctx, worker, manager, "before"); err != nil {
		t.Fatal(err)
	}

	old := pluginPID(t, b.PID())
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := waitMetric(ctx, t, b, "zpipe_plugin_restarts_total", 1); err != nil {
		t.Fatal(err)
	}
	if err := waitMetric(ctx, t, b, "zpipe_plugin_up", 1); err != nil {
		t.Fatal(err)
	}
	if now := pluginPID(t, b.PID()); now == old {
		t.Fatalf("plugin pid still %d after the kill", old)
	}
	// The nodes reconnect on their own (libzmq retries), resend their
	// subscriptions, and events flow through the new plugin process.
	if err := deliver(ctx, worker, manager, "after"); err != nil {
		t.Fatalf("no event crossed the broker after the plugin restart: %v", err)
	}
}

// deliver publishes a marked event from one node until the other receives
// it: after a reconnect the publisher drops events until the subscription
// has come back to it, so one try is not enough.
func deliver(ctx context.Context, from, to *zeektest.Node, mark string) error {
	payload := []byte("marker-" + mark)
	for {
		if err := from.Publish("zeek.test.events", payload); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		_, err := to.WaitReceivedMatching(wctx, "event "+mark, func(m zeektest.Message) bool {
			return string(m.Payload()) == string(payload)
		})
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("event %q: %w", mark, ctx.Err())
		}
	}
}

// child is a child process: its pid and command name (as /proc shows it,
// at most 15 bytes).
type child struct {
	pid  int
	comm string
}

// children lists the child processes of parent.
func children(parent int) []child {
	var kids []child
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so split after ')'.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		rest := strings.Fields(s[end+1:])
		if len(rest) > 1 && rest[1] == strconv.Itoa(parent) {
			pid, _ := strconv.Atoi(strings.TrimSpace(s[:open]))
			kids = append(kids, child{pid: pid, comm: s[open+1 : end]})
		}
	}
	return kids
}

// pluginPID returns the pid of the single child process of parent.
func pluginPID(t *testing.T, parent int) int {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		kids := children(parent)
		if len(kids) == 1 {
			return kids[0].pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker %d has children %v, want exactly one plugin process", parent, kids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// childNamed returns the pid of the child process of parent whose command
// name is comm.
func childNamed(t *testing.T, parent int, comm string) int {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		for _, k := range children(parent) {
			if k.comm == comm {
				return k.pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d has no child %q among %v", parent, comm, children(parent))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCodecPluginCrash: the logger's codec plugin is killed between
// batches; zpipe restarts it and counts the restart; the batch that came
// while it was down and the next ones are written as before.
func TestCodecPluginCrash(t *testing.T) {
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		l := startLogger(t, kind, "tsv")
		push := pushSocket(t, l.endpoint)
		frames, err := zeektest.LoadVector("zeek-log-conn-1rec-a.hex")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := push.SendMessage(frames); err != nil {
			t.Fatal(err)
		}
		l.waitWritten(t, 1)
		codec := childNamed(t, l.cmd.Process.Pid, "zpipe-codec-zee") // comm is cut to 15 bytes
		if err := syscall.Kill(codec, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// A batch that arrives while the codec is down waits for its
		// restart.
		frames, err = zeektest.LoadVector("zeek-log-conn-1rec-b.hex")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := push.SendMessage(frames); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(waitTimeout)
		for {
			m := scrapeURL(t, "http://"+l.metrics+"/metrics")
			if m[`zpipe_plugin_restarts_total{plugin="codec-zeek"}`] >= 1 && m[`zpipe_plugin_up{plugin="codec-zeek"}`] == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("codec restart not reported: %v", metricsMatching(m, "zpipe_plugin"))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if now := childNamed(t, l.cmd.Process.Pid, "zpipe-codec-zee"); now == codec {
			t.Fatalf("codec plugin pid still %d after the kill", codec)
		}
		frames, err = zeektest.LoadVector("zeek-log-conn-7rec.hex")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := push.SendMessage(frames); err != nil {
			t.Fatal(err)
		}
		l.waitWritten(t, 3)
		l.stop(t)
		got, err := os.ReadFile(filepath.Join(l.dir, "conn.log"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, line := range strings.Split(strings.TrimSuffix(string(got), "\n"), "\n") {
			if !strings.HasPrefix(line, "#") {
				n++
			}
		}
		if n != 9 {
			t.Fatalf("conn.log has %d records, want 9:\n%s", n, got)
		}
	})
}
