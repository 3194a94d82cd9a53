package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/syncbuf"

	"github.com/zpipe/zpipe/internal/testutil"
	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// zpipeProcess is `zpipe run` of one of the pipelines/ files.
type zpipeProcess struct {
	cmd    *exec.Cmd
	exited chan error
	output *syncbuf.Buffer
}

// runPipeline starts zpipe on pipelines/file with the given variables
// (NAME=VALUE) and flags (--flag=value) and kills it when the test ends.
func runPipeline(t *testing.T, kind brokerproc.Kind, file string, vars ...string) *zpipeProcess {
	t.Helper()
	root, err := zeektest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--plugin-dir", brokers.pluginDir, filepath.Join(root, "pipelines", file)}
	for _, v := range vars {
		if strings.HasPrefix(v, "--") {
			args = append(args, v) // a flag
			continue
		}
		args = append(args, "--var", v)
	}
	if kind == brokerproc.ZpipePurego {
		args = append(args, "--transport", "purego")
	}
	p := &zpipeProcess{exited: make(chan error, 1), output: &syncbuf.Buffer{}}
	p.cmd = exec.Command(brokers.zpipeBin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("zpipe %s output:\n%s", file, p.output.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *zpipeProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitExit(t)
}

// waitExit waits for a clean exit after a signal was sent.
func (p *zpipeProcess) waitExit(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("zpipe did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("zpipe did not exit within 30s of SIGTERM")
	}
}

// waitOutput waits until zpipe's output holds substr.
func (p *zpipeProcess) waitOutput(t *testing.T, substr string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !strings.Contains(p.output.String(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("zpipe never logged %q", substr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jsonLine is one line of a jsonl file sink.
type jsonLine struct {
	Topic  string `json:"topic"`
	Sender string `json:"sender"`
	Event  string `json:"event"`
	Args   []any  `json:"args"`
}

func (l jsonLine) String() string {
	return fmt.Sprintf("%s%v from %s on %s", l.Event, l.Args, l.Sender, l.Topic)
}

// readJSONLines reads a jsonl file; a missing file is no lines.
func readJSONLines(t *testing.T, path string) []jsonLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []jsonLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l jsonLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			if !bytes.HasSuffix(data, []byte("\n")) {
				break // a line being written
			}
			t.Fatalf("%s: %q: %v", path, sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// waitJSONLine waits until the jsonl file at path holds a line that
// matches.
func waitJSONLine(t *testing.T, path, what string, match func(jsonLine) bool) jsonLine {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		lines := readJSONLines(t, path)
		if i := slices.IndexFunc(lines, match); i >= 0 {
			return lines[i]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no line with %s in %v", path, what, lines)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isEvent(name, sender string, args ...any) func(jsonLine) bool {
	return func(l jsonLine) bool {
		return l.Event == name && (sender == "" || l.Sender == sender) && (args == nil || asJSON(l.Args) == asJSON(args))
	}
}

func asJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("unencodable %T: %v", v, err)
	}
	return string(b)
}

// waitNodesGauge waits until zpipe_cluster_nodes of name reads want.
func waitNodesGauge(t *testing.T, metricsAddr, name, role string, want float64) {
	t.Helper()
	key := fmt.Sprintf(`zpipe_cluster_nodes{component="stage.hello_tracker.members",node_name=%q,node_role=%q,pipeline="zeek-participant"}`, name, role)
	deadline := time.Now().Add(waitTimeout)
	for {
		m := scrapeURL(t, "http://"+metricsAddr+"/metrics")
		if v, ok := m[key]; ok && v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v; have %v", key, m[key], want, metricsMatching(m, "zpipe_cluster_nodes"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestParticipant: pipelines/zeek-participant.hcl joins a cluster of two
// Zeek-like nodes on a zpipe broker. The handshake completes both ways —
// the nodes get zpipe's ZeroMQ::hello and Cluster::hello and raise
// node_up for it, zpipe gets theirs and counts them up — an event
// published to zpipe's node topic reaches its file, departures are seen on
// both sides, the membership gauge follows, and a node that answers no
// hello brings zpipe's expiry warning.
func TestParticipant(t *testing.T) {
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		b := StartBroker(t, kind)
		ctx := waitCtx(t, 3*waitTimeout)
		ports, err := brokerproc.FreePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		metricsAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
		dir := t.TempDir()
		const name, id = "zpipe-1", "zeromq_zpipe-1_testhost_4242_NzpipeE2E"
		ep := b.Endpoints()
		p := runPipeline(t, kind, "zeek-participant.hcl",
			"connect_xsub_endpoint="+ep.XPub, "connect_xpub_endpoint="+ep.XSub,
			"node_name="+name, "node_id="+id, `topics=["zeek.cluster.node.zpipe-1.", "zeek.test."]`,
			"hello_expiration=2s", "out_dir="+dir, "metrics_listen="+metricsAddr)
		p.waitOutput(t, "hello_tracker subscribed to its node-id topic")
		events, membership := filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "membership.jsonl")

		known := append(slices.Clone(cluster), name)
		manager := startNode(t, b, zeektest.Config{Name: "manager", Role: "manager", KnownNodes: known})
		worker := startNode(t, b, zeektest.Config{Name: "worker-1", KnownNodes: known})

		// The nodes see zpipe: its ZeroMQ::hello to their node-id topic,
		// then its Cluster::hello, and raise node_up.
		for _, n := range []*zeektest.Node{manager, worker} {
			peer, err := n.WaitNodeUp(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if peer.ID != id {
				t.Fatalf("%s: node_up(%s) with id %q, want %q", n.Name(), name, peer.ID, id)
			}
			var got []string
			for _, m := range n.Received() {
				if m.Sender() != id {
					continue
				}
				ev, err := m.Event()
				if err != nil {
					t.Fatalf("%s: zpipe's message does not decode: %v", n.Name(), err)
				}
				args, _ := ev.StringArgs()
				got = append(got, fmt.Sprintf("%s%v on %s", ev.Name, args, m.Topic()))
			}
			topic := zeektest.NodeIDTopic(n.ID())
			want := []string{
				fmt.Sprintf("Cluster::Backend::ZeroMQ::hello[%s %s] on %s", name, id, topic),
				fmt.Sprintf("Cluster::hello[%s %s] on %s", name, id, topic),
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s received from zpipe:\n %q\nwant\n %q", n.Name(), got, want)
			}
		}

		// zpipe sees the nodes: their hellos in its event file, node_up in
		// its membership file and the gauge.
		for _, n := range []*zeektest.Node{manager, worker} {
			waitJSONLine(t, events, n.Name()+"'s ZeroMQ::hello", isEvent("Cluster::Backend::ZeroMQ::hello", n.ID(), n.Name(), n.ID()))
			waitJSONLine(t, events, n.Name()+"'s Cluster::hello", isEvent("Cluster::hello", n.ID(), n.Name(), n.ID()))
			waitJSONLine(t, membership, n.Name()+" up", isEvent("zpipe::node_up", id, n.Name(), n.ID(), n.Config().Role))
		}
		waitNodesGauge(t, metricsAddr, "manager", "manager", 1)
		waitNodesGauge(t, metricsAddr, "worker-1", "worker", 1)

		// An event to zpipe's node topic reaches its file.
		if err := manager.PublishEvent("zeek.cluster.node.zpipe-1.", "Test::ping", "hello zpipe", uint64(7)); err != nil {
			t.Fatal(err)
		}
		waitJSONLine(t, events, "Test::ping", isEvent("Test::ping", manager.ID(), "hello zpipe", 7))

		// A departure: zpipe counts the worker down.
		if err := worker.Close(); err != nil {
			t.Fatal(err)
		}
		waitJSONLine(t, membership, "worker-1 down", isEvent("zpipe::node_down", id, "worker-1", worker.ID(), "worker"))
		waitNodesGauge(t, metricsAddr, "worker-1", "worker", 0)
		waitNodesGauge(t, metricsAddr, "manager", "manager", 1)

		// A node that answers no hello: zpipe warns once its subscription
		// expired.
		silent := startNode(t, b, zeektest.Config{Name: "worker-2", NoHello: true})
		p.waitOutput(t, "Expired subscription from nodeid "+silent.ID())

		// zpipe leaves: the manager sees it go.
		p.stop(t)
		if _, err := manager.WaitNodeDown(ctx, id); err != nil {
			t.Fatal(err)
		}
		// (The manager, like zpipe, may expire the silent node's
		// subscription meanwhile: that warning is Zeek's own.)
		for _, w := range manager.Warnings() {
			if (strings.Contains(w, "Expired") && !strings.Contains(w, silent.ID())) || strings.Contains(w, name) {
				t.Errorf("manager warned: %s", w)
			}
		}
		if errs := manager.Errors(); len(errs) > 0 {
			t.Errorf("manager errors: %q", errs)
		}
		// zpipe publishes only its own messages: nothing it received comes
		// back through the broker, to the manager or to itself.
		if n := manager.SelfFiltered(); n != 0 {
			t.Errorf("the manager received %d of its own messages back", n)
		}
		hellos := 0
		for _, l := range readJSONLines(t, events) {
			if isEvent("Cluster::Backend::ZeroMQ::hello", manager.ID())(l) {
				hellos++
			}
		}
		if hellos != 1 {
			t.Errorf("zpipe received the manager's ZeroMQ::hello %d times, want once", hellos)
		}
	})
}

// TestBrokerTracksMembers: pipelines/zeek-broker.hcl with
// track_members = true watches the handshakes crossing it: the broker logs
// node up and down, and its zpipe_cluster_nodes gauge follows, while the
// nodes discover each other through it as usual.
func TestBrokerTracksMembers(t *testing.T) {
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		root, err := zeektest.ModuleRoot()
		if err != nil {
			t.Fatal(err)
		}
		extra := []string{"--var", "track_members=true"}
		if kind == brokerproc.ZpipePurego {
			extra = append(extra, "--transport", "purego")
		}
		cmd := brokerproc.ZpipeCommand(brokers.zpipeBin, brokers.pluginDir, filepath.Join(root, "pipelines", "zeek-broker.hcl"), extra...)
		cmd.Kind = kind
		ctx := waitCtx(t, 2*waitTimeout)
		b := startBrokerCommand(t, cmd)
		manager := startNode(t, b, zeektest.Config{Name: "manager", Role: "manager", KnownNodes: cluster})
		worker := startNode(t, b, zeektest.Config{Name: "worker-1", KnownNodes: cluster})
		for _, pair := range [][2]*zeektest.Node{{manager, worker}, {worker, manager}} {
			if _, err := pair[0].WaitNodeUp(ctx, pair[1].Name()); err != nil {
				t.Fatal(err)
			}
		}
		gauge := func(name, role string) string {
			return fmt.Sprintf(`zpipe_cluster_nodes{component="stage.hello_tracker.members",node_name=%q,node_role=%q,pipeline="zeek-broker"}`, name, role)
		}
		wait := func(what string, cond func(m map[string]float64) bool) {
			t.Helper()
			deadline := time.Now().Add(waitTimeout)
			for {
				m := scrapeURL(t, "http://"+b.Endpoints().Metrics+"/metrics")
				if cond(m) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: %v", what, metricsMatching(m, "zpipe_cluster_nodes"))
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		wait("both nodes up", func(m map[string]float64) bool {
			return m[gauge("manager", "manager")] == 1 && m[gauge("worker-1", "worker")] == 1
		})
		if err := worker.Close(); err != nil {
			t.Fatal(err)
		}
		wait("worker-1 down", func(m map[string]float64) bool {
			v, ok := m[gauge("worker-1", "worker")]
			return ok && v == 0 && m[gauge("manager", "manager")] == 1
		})
		// The log lines may reach the test's copy of the output after the
		// gauge changed.
		for _, want := range []string{"msg=\"node up\"", "name=worker-1", "msg=\"node down\""} {
			testutil.Eventually(t, waitTimeout, "the broker log line "+want, func() bool { return strings.Contains(b.Output(), want) })
		}
	})
}
