package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// zpipeCLI runs a zpipe command against broker b and returns its output
// and exit status.
func zpipeCLI(t *testing.T, b *brokerproc.Process, kind brokerproc.Kind, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, brokers.zpipeBin, clusterArgs(b, kind, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		exit, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("zpipe %v: %v\n%s", args, err, out)
		}
		code = exit.ExitCode()
	}
	return string(out), code
}

func clusterArgs(b *brokerproc.Process, kind brokerproc.Kind, args ...string) []string {
	transport := "cgo"
	if kind == brokerproc.ZpipePurego {
		transport = "purego"
	}
	ep := b.Endpoints()
	return append(args, "--plugin-dir", brokers.pluginDir, "--broker-xpub", ep.XPub, "--broker-xsub", ep.XSub, "--transport", transport)
}

// TestClusterTools: zpipe nodes, publish and tail against a zpipe broker
// with Zeek-like nodes, on each transport. The tools stay invisible: the
// nodes see no node-id subscription from them and no hello.
func TestClusterTools(t *testing.T) {
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		b := StartBroker(t, kind)
		ctx := waitCtx(t, 2*waitTimeout)
		manager := startNode(t, b, zeektest.Config{Name: "manager", Role: "manager", Topics: []string{"zeek.test.events"}, KnownNodes: cluster})
		worker := startNode(t, b, zeektest.Config{Name: "worker-1", KnownNodes: cluster})
		for _, pair := range [][2]*zeektest.Node{{manager, worker}, {worker, manager}} {
			if _, err := pair[0].WaitNodeUp(ctx, pair[1].Name()); err != nil {
				t.Fatal(err)
			}
		}

		// nodes
		out, code := zpipeCLI(t, b, kind, "nodes", "--json")
		if code != 0 {
			t.Fatalf("zpipe nodes: exit %d\n%s", code, out)
		}
		seen := map[string]map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var n map[string]string
			if err := json.Unmarshal([]byte(line), &n); err != nil {
				t.Fatalf("zpipe nodes printed %q: %v", line, err)
			}
			seen[n["name"]] = n
		}
		if seen["manager"]["id"] != manager.ID() || seen["manager"]["role"] != "manager" ||
			seen["worker-1"]["id"] != worker.ID() || seen["worker-1"]["role"] != "worker" || len(seen) != 2 {
			t.Fatalf("zpipe nodes: %v\n%s", seen, out)
		}

		// tail, started in the background, sees an event published by a node.
		tctx, stopTail := context.WithCancel(context.Background())
		defer stopTail()
		tail := exec.CommandContext(tctx, brokers.zpipeBin, clusterArgs(b, kind, "tail", "--topic", "zeek.test.")...)
		tail.Cancel = func() error { return tail.Process.Signal(syscall.SIGTERM) }
		stdout, err := tail.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		tail.Stderr = &stderr
		if err := tail.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Publish until tail has subscribed and prints it.
		var got map[string]any
		for got == nil {
			if err := worker.PublishEvent("zeek.test.events", "Test::tailed", uint64(7), "x"); err != nil {
				t.Fatal(err)
			}
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("zpipe tail ended: %s", stderr.String())
				}
				if err := json.Unmarshal([]byte(line), &got); err != nil {
					t.Fatalf("zpipe tail printed %q: %v", line, err)
				}
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
				t.Fatalf("zpipe tail printed nothing: %s", stderr.String())
			}
		}
		if !strings.Contains(toJSON(t, got), "Test::tailed") || !strings.Contains(toJSON(t, got), "zeek.test.events") {
			t.Fatalf("zpipe tail printed %s", toJSON(t, got))
		}
		stopTail()
		if err := tail.Wait(); err != nil && tctx.Err() == nil {
			t.Fatalf("zpipe tail: %v\n%s", err, stderr.String())
		}
		go func() { _, _ = io.Copy(io.Discard, stdout) }()

		// publish reaches the manager; a topic nobody wants is refused.
		out, code = zpipeCLI(t, b, kind, "publish", "--topic", "zeek.test.events", "--event", "Test::ping", `["hello", 42, -1, 2.5, true, {"@type":"port","value":"443/tcp"}]`)
		if code != 0 {
			t.Fatalf("zpipe publish: exit %d\n%s", code, out)
		}
		m, err := manager.WaitReceivedMatching(ctx, "Test::ping", func(m zeektest.Message) bool {
			return m.Topic() == "zeek.test.events" && bytes.Contains(m.Frames[3], []byte("Test::ping"))
		})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := brokerbin.Codec{}.DecodeEvent(m.Frames[3])
		if err != nil {
			t.Fatal(err)
		}
		var args []string
		for _, a := range ev.Args {
			args = append(args, a.String())
		}
		if strings.Join(args, " ") != `"hello" 42 -1 2.5 T 443/tcp` {
			t.Fatalf("published args %q", args)
		}
		out, code = zpipeCLI(t, b, kind, "publish", "--topic", "nobody.listens", "--event", "Test::ping", "[]")
		if code != 1 || !strings.Contains(out, `nobody subscribes to "nobody.listens"`) {
			t.Fatalf("publish to an unwanted topic: exit %d\n%s", code, out)
		}

		// Invisible: no node saw a node-id subscription or hello from zpipe.
		for _, n := range []*zeektest.Node{manager, worker} {
			for _, w := range append(n.Warnings(), n.Errors()...) {
				t.Errorf("%s: %s", n.Name(), w)
			}
			if ups := n.NodeUps(); len(ups) != 1 {
				t.Errorf("%s saw node_up for %v", n.Name(), ups)
			}
		}
	})
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadyPipelines: every file in pipelines/ is valid on both transports
// (the replay file given its required recording) and in canonical form.
func TestReadyPipelines(t *testing.T) {
	root, err := zeektest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "pipelines", "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("pipelines/*.hcl: %v, %d files", err, len(files))
	}
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, brokers.zpipeBin, append(args, "--plugin-dir", brokers.pluginDir)...).CombinedOutput()
		return string(out), err
	}
	for _, f := range files {
		for _, transport := range []string{"cgo", "purego"} {
			args := []string{"validate", "--transport", transport, f}
			if filepath.Base(f) == "zeek-replay.hcl" {
				args = append(args, "--var", "file=/dev/null") // its one required variable
			}
			if out, err := run(args...); err != nil {
				t.Errorf("zpipe %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}
	if out, err := run(append([]string{"fmt", "-check"}, files...)...); err != nil {
		t.Errorf("pipelines not in canonical form (zpipe fmt): %v\n%s", err, out)
	}
}
