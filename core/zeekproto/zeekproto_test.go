package zeekproto_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/zeekproto"
	"github.com/zpipe/zpipe/internal/vectors"
)

// capturedIDs are the node ids of the captured runs, by node name.
var capturedIDs = map[string]string{
	"manager":  "zeromq_manager_vm_29060_NA8kpi37iRMWXneDsi",
	"worker-1": "zeromq_worker-1_vm_29081_Nu7FFg2UtzjHvbUEZ8",
	"worker-2": "zeromq_worker-2_vm_29116_NhBv7e27rNyo2iAhGc",
}

var base62 = regexp.MustCompile(`^N[0-9A-Za-z]+$`)

// checkCapturedID: id parses into the fields of its node and formats back
// to itself.
func checkCapturedID(t *testing.T, where, id string) {
	t.Helper()
	n, ok := zeekproto.ParseNodeID(id)
	if !ok {
		t.Fatalf("%s: ParseNodeID(%q) failed", where, id)
	}
	if want, known := capturedIDs[n.Name]; !known || want != id {
		t.Errorf("%s: %q parsed as name %q, which the captured runs do not give that id", where, id, n.Name)
	}
	if _, err := strconv.Atoi(n.PID); err != nil || n.Host != "vm" || !base62.MatchString(n.Unique) {
		t.Errorf("%s: %q parsed as %+v", where, id, n)
	}
	if got := n.String(); got != id {
		t.Errorf("%s: %+v formats as %q, want %q", where, n, got, id)
	}
}

// TestCapturedMessages: frame 1 of every captured event and log batch is
// a node id that parses and formats back to itself; frames 0 and 2 are
// the names of this package.
func TestCapturedMessages(t *testing.T) {
	for _, path := range append(vectors.Glob(t, "captured/zeek-event-*.hex"), vectors.Glob(t, "captured/zeek-log-*.hex")...) {
		name := filepath.Base(path)
		frames := vectors.Frames(t, path)
		if len(frames) != 4 {
			t.Fatalf("%s: %d frames", name, len(frames))
		}
		topic, sender, format := string(frames[0]), string(frames[1]), string(frames[2])
		checkCapturedID(t, name, sender)
		switch {
		case strings.HasPrefix(name, "zeek-log-"):
			if topic != zeekproto.LogWriteTopic || format != zeekproto.FormatZeekLog {
				t.Errorf("%s: topic %q, format %q", name, topic, format)
			}
		case strings.Contains(name, "hello"):
			if format != zeekproto.FormatBrokerBin {
				t.Errorf("%s: format %q", name, format)
			}
			// A hello goes to the receiver's node-id topic.
			to, ok := zeekproto.NodeIDFromTopic(topic)
			if !ok || to == sender || zeekproto.NodeIDTopic(to) != topic {
				t.Errorf("%s: topic %q gives id %q, %v", name, topic, to, ok)
			}
			checkCapturedID(t, name+" topic", to)
		default:
			if format != zeekproto.FormatBrokerBin {
				t.Errorf("%s: format %q", name, format)
			}
		}
	}
}

// TestCapturedSubscriptions: the captured subscriptions are the topics
// this package builds for the manager.
func TestCapturedSubscriptions(t *testing.T) {
	manager := capturedIDs["manager"]
	for file, want := range map[string]string{
		"zeek-sub-nodeid.hex":       "\x01" + zeekproto.NodeIDTopic(manager),
		"zeek-unsub-nodeid.hex":     "\x00" + zeekproto.NodeIDTopic(manager),
		"zeek-sub-node.hex":         "\x01" + zeekproto.NodeTopic("manager"),
		"zeek-sub-role-manager.hex": "\x01" + zeekproto.RoleTopic(zeekproto.RoleManager),
		"zeek-sub-role-worker.hex":  "\x01" + zeekproto.RoleTopic(zeekproto.RoleWorker),
		"zeek-sub-pool-worker.hex":  "\x01" + zeekproto.PoolTopic("worker"),
	} {
		frames := vectors.Load(t, "captured/"+file)
		if len(frames) != 1 || string(frames[0]) != want {
			t.Errorf("%s: %q, want %q", file, frames, want)
		}
	}
}

// TestHandshakeNodeIDs: every node-id subscription of the captured
// handshake carries a captured id, and the sequence holds the node topic
// of the name read out of it.
func TestHandshakeNodeIDs(t *testing.T) {
	subs := map[string]bool{}
	var ids []string
	for _, m := range vectors.Handshake(t) {
		if m.Kind != "subscriptions" || len(m.Frames) != 1 || len(m.Frames[0]) == 0 {
			continue
		}
		topic := string(m.Frames[0][1:])
		subs[topic] = true
		if id, ok := zeekproto.NodeIDFromTopic(topic); ok {
			checkCapturedID(t, "message "+strconv.Itoa(m.Seq), id)
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		t.Fatal("no node-id subscription in the captured handshake")
	}
	for _, id := range ids {
		n, _ := zeekproto.ParseNodeID(id)
		if !subs[zeekproto.NodeTopic(n.Name)] || !subs[zeekproto.RoleTopic(zeekproto.RoleOf(n.Name))] {
			t.Errorf("node %s (%s): its node or role topic is not among the subscriptions %v", n.Name, id, subs)
		}
	}
}

func TestNodeIDFromTopic(t *testing.T) {
	for _, c := range []struct {
		topic, id string
		ok        bool
	}{
		{"zeek.cluster.nodeid.zeromq_manager_vm_29060_NA8kpi37iRMWXneDsi.", "zeromq_manager_vm_29060_NA8kpi37iRMWXneDsi", true},
		{"zeek.cluster.nodeid.A.", "A", true},
		{"zeek.cluster.nodeid.a.b.", "a.b", true},
		{"zeek.cluster.nodeid..", "", true},
		{"zeek.cluster.nodeid.", "", false},
		{"zeek.cluster.nodeid.abc", "", false},
		{"zeek.cluster.node.worker-1.", "", false},
		{"", "", false},
	} {
		if id, ok := zeekproto.NodeIDFromTopic(c.topic); id != c.id || ok != c.ok {
			t.Errorf("NodeIDFromTopic(%q) = %q, %v; want %q, %v", c.topic, id, ok, c.id, c.ok)
		}
	}
}

func TestParseNodeIDShapes(t *testing.T) {
	for _, c := range []struct {
		id   string
		want zeekproto.NodeID
		ok   bool
	}{
		{"zeromq_logger-2_host_with_underscores_1_Nx", zeekproto.NodeID{Name: "logger-2", Host: "host_with_underscores", PID: "1", Unique: "Nx"}, true},
		{"zeromq_proxy_h_1_N", zeekproto.NodeID{Name: "proxy", Host: "h", PID: "1", Unique: "N"}, true},
		{"zeromq_a_b_c", zeekproto.NodeID{}, false},
		{"other_a_b_1_N", zeekproto.NodeID{}, false},
		{"not-a-zeek-id", zeekproto.NodeID{}, false},
	} {
		n, ok := zeekproto.ParseNodeID(c.id)
		if n != c.want || ok != c.ok {
			t.Errorf("ParseNodeID(%q) = %+v, %v; want %+v, %v", c.id, n, ok, c.want, c.ok)
		}
		if ok && n.String() != c.id {
			t.Errorf("%+v formats as %q, want %q", n, n.String(), c.id)
		}
	}
}

// TestNewNodeID: generated ids have Zeek's shape, parse back into what
// made them, and differ.
func TestNewNodeID(t *testing.T) {
	id, err := zeekproto.NewNodeID("worker-1", "zeek1", 4242)
	if err != nil || !regexp.MustCompile(`^zeromq_worker-1_zeek1_4242_N[0-9A-Za-z]{10,17}$`).MatchString(id) {
		t.Fatalf("NewNodeID = %q, %v", id, err)
	}
	n, ok := zeekproto.ParseNodeID(id)
	if !ok || n.Name != "worker-1" || n.Host != "zeek1" || n.PID != "4242" || n.String() != id {
		t.Fatalf("%q parsed as %+v, %v", id, n, ok)
	}
	if other, err := zeekproto.NewNodeID("worker-1", "zeek1", 4242); err != nil || other == id {
		t.Fatalf("second id %q, %v (first %q)", other, err, id)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	own, err := zeekproto.NewNodeID("zpipe", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := zeekproto.ParseNodeID(own); !ok || n.Host != host || n.PID != strconv.Itoa(os.Getpid()) {
		t.Fatalf("%q parsed as %+v, %v; want host %q, pid %d", own, n, ok, host, os.Getpid())
	}
}

// TestRoleOf: the documented derivation.
func TestRoleOf(t *testing.T) {
	for name, want := range map[string]string{
		"manager": zeekproto.RoleManager, "logger-1": zeekproto.RoleLogger, "logger": zeekproto.RoleLogger,
		"proxy-1": zeekproto.RoleProxy, "worker-1": zeekproto.RoleWorker, "worker-12": zeekproto.RoleWorker,
		"zpipe-logger": zeekproto.RoleUnknown, "": zeekproto.RoleUnknown, "Worker-1": zeekproto.RoleUnknown,
	} {
		if got := zeekproto.RoleOf(name); got != want {
			t.Errorf("RoleOf(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestProbeTopic(t *testing.T) {
	if got := zeekproto.ProbeTopic("zeromq_zpipe_h_1_Nx", 3); got != "zeek.zeromq.internal.zeromq_zpipe_h_1_Nx.3." {
		t.Fatalf("ProbeTopic = %q", got)
	}
}
