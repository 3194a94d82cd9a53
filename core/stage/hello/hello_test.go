package hello

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/stagetest"
	"github.com/zpipe/zpipe/core/zeekproto"
	"github.com/zpipe/zpipe/internal/zeektest"
)

// --- helpers ---

// logRecord is one line the stage logged.
type logRecord struct {
	Level slog.Level
	Msg   string
}

// recorder is a slog.Handler keeping every record (and echoing it to the
// test output).
type recorder struct {
	mu   sync.Mutex
	recs []logRecord
	echo slog.Handler
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(ctx context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, logRecord{rec.Level, rec.Message})
	r.mu.Unlock()
	return r.echo.Handle(ctx, rec)
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) records() []logRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logRecord(nil), r.recs...)
}

// has reports whether a record of level with exactly msg was logged.
func (r *recorder) has(level slog.Level, msg string) bool {
	for _, rec := range r.records() {
		if rec.Level == level && rec.Msg == msg {
			return true
		}
	}
	return false
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// harness is a tracker under test with everything around it.
type harness struct {
	t        *testing.T
	s        *Stage
	out      *stagetest.Collector
	upstream *stagetest.Collector
	log      *recorder
	clock    *clock
}

// newHarness makes a tracker from config (a JSON object; missing
// attributes take their defaults) with an injected clock at epoch.
func newHarness(t *testing.T, config string) *harness {
	t.Helper()
	h := &harness{t: t, out: &stagetest.Collector{}, upstream: &stagetest.Collector{}, clock: &clock{t: epoch}}
	env := stagetest.Env(t, h.out)
	h.log = &recorder{echo: env.Logger.Handler()}
	env.Logger = slog.New(h.log)
	env.Codecs = stagetest.Codecs(t)
	env.Upstream = h.upstream
	st, err := Kind.New(env, []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	h.s = st.(*Stage)
	h.s.now = h.clock.Now // the test hook
	return h
}

func (h *harness) subscribe(topic string) {
	h.t.Helper()
	h.observe(message.SubscriptionFrame(true, []byte(topic)))
}

func (h *harness) unsubscribe(topic string) {
	h.t.Helper()
	h.observe(message.SubscriptionFrame(false, []byte(topic)))
}

// observe hands single-frame subscription messages to the tracker.
func (h *harness) observe(frames ...[]byte) {
	h.t.Helper()
	var b message.Batch
	for _, f := range frames {
		b.Append(f)
	}
	if err := h.s.ObserveSubscriptions(context.Background(), &b); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) push(msgs ...[][]byte) {
	h.t.Helper()
	if err := h.s.Push(context.Background(), stagetest.Batch(msgs...)); err != nil {
		h.t.Fatal(err)
	}
}

// hello returns a four-frame hello event from (name, id) to the node-id
// topic of to, encoded by zeektest's independent encoder.
func hello(t testing.TB, event, name, id, to string) [][]byte {
	t.Helper()
	payload, err := zeektest.EncodeEvent(event, name, id)
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{[]byte(zeekproto.NodeIDTopic(to)), []byte(id), []byte(DefaultFormat), payload}
}

func (h *harness) members() string {
	var parts []string
	for _, m := range h.s.Members() {
		parts = append(parts, fmt.Sprintf("%s/%s/%s", m.Name, m.ID, m.Role))
	}
	return strings.Join(parts, " ")
}

func (h *harness) wantMembers(want string) {
	h.t.Helper()
	if got := h.members(); got != want {
		h.t.Fatalf("members %q, want %q", got, want)
	}
}

func (h *harness) wantLog(level slog.Level, msg string) {
	h.t.Helper()
	if !h.log.has(level, msg) {
		h.t.Fatalf("no %s log %q in %+v", level, msg, h.log.records())
	}
}

func (h *harness) expire() {
	h.t.Helper()
	h.s.expire()
}

func sameMessages(a, b [][][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if !bytes.Equal(a[i][j], b[i][j]) {
				return false
			}
		}
	}
	return true
}

// capturedIDs returns the manager's and worker-1's ids of the phase-A
// capture, from the vectors.
func capturedIDs(t *testing.T) (manager, worker string) {
	t.Helper()
	fromManager := zeektest.MustVector(t, "zeek-event-zeromq-hello-from-manager.hex")
	fromWorker := zeektest.MustVector(t, "zeek-event-zeromq-hello.hex")
	return string(fromManager[1]), string(fromWorker[1])
}

// --- tests ---

// TestKind: the kind registers (its schema is valid), every attribute is
// described, and the defaults are the documented ones.
func TestKind(t *testing.T) {
	if _, err := stage.NewRegistry(Kind); err != nil {
		t.Fatal(err)
	}
	if Kind.Name != "hello_tracker" || !Kind.NeedsCodecs {
		t.Fatalf("kind %q, needs codecs %v", Kind.Name, Kind.NeedsCodecs)
	}
	want := map[string]any{"mode": "observe", "expiration": "10s", "format": "broker-bin-v1", "name": "", "node_id": "", "cluster_hello": false, "forward": true, "membership_topic": ""}
	for _, a := range Kind.Schema.Attributes {
		if a.Description == "" {
			t.Errorf("attribute %q has no description", a.Name)
		}
		if d, ok := want[a.Name]; !ok || d != a.Default {
			t.Errorf("attribute %q default %v, want %v", a.Name, a.Default, d)
		}
		delete(want, a.Name)
	}
	if len(want) > 0 {
		t.Errorf("attributes missing: %v", want)
	}
}

// TestCapturedHandshake replays the captured phase-A sequence: subscriptions
// to ObserveSubscriptions, publications and log batches to Push. The
// manager and worker-1 come up with the captured names and ids, Cluster::hello
// changes nothing, they go down at their node-id unsubscriptions, nothing
// expires, and every pushed message is passed on unchanged and in order.
func TestCapturedHandshake(t *testing.T) {
	managerID, workerID := capturedIDs(t)
	h := newHarness(t, `{}`)
	var pushed [][][]byte
	for _, m := range zeektest.MustHandshakeSequence(t) {
		h.clock.Set(epoch.Add(time.Duration(m.T * float64(time.Second))))
		if m.Kind == "subscriptions" {
			h.observe(m.Frames...)
		} else {
			h.push(m.Frames)
			pushed = append(pushed, m.Frames)
		}
		switch m.Seq {
		case 11: // worker-1's hello, before its node-id subscription
			h.wantMembers("")
		case 12:
			h.wantMembers("worker-1/" + workerID + "/worker")
		case 14, 16, 20:
			h.wantMembers("manager/" + managerID + "/manager worker-1/" + workerID + "/worker")
		case 22:
			h.wantMembers("manager/" + managerID + "/manager")
		case 30:
			h.wantMembers("")
		}
	}
	h.clock.Advance(time.Hour)
	h.expire()
	c := h.s.Counts()
	if c.NodesUp != 2 || c.NodesDown != 2 || c.Hellos != 4 || c.Malformed != 0 || c.ExpiredHellos+c.ExpiredSubscriptions != 0 || c.ZeroMQHellosSent != 0 {
		t.Fatalf("counts %+v", c)
	}
	if !sameMessages(h.out.Messages(), pushed) {
		t.Fatal("the messages passed on differ from those pushed")
	}
	if st := h.s.Stats(); st.Received != uint64(len(pushed)) || st.Sent != st.Received || st.Undecoded != 0 {
		t.Fatalf("stats %+v", st)
	}
	h.wantLog(slog.LevelInfo, "node up")
	h.wantLog(slog.LevelInfo, "node down")
	// Since is when the second half arrived (the injected clock).
	h2 := newHarness(t, `{}`)
	h2.subscribe(zeekproto.NodeIDTopic("zeromq_logger-1_x_1_Na"))
	h2.clock.Advance(3 * time.Second)
	h2.push(hello(t, zeekproto.ZeroMQHelloEvent, "logger-1", "zeromq_logger-1_x_1_Na", "other"))
	if m := h2.s.Members(); len(m) != 1 || !m[0].Since.Equal(epoch.Add(3*time.Second)) || m[0].Role != zeekproto.RoleLogger {
		t.Fatalf("members %+v", m)
	}
}

// TestEitherOrder: subscription then hello, and hello then subscription,
// both bring a node up; repeats change nothing; Members is sorted by name.
func TestEitherOrder(t *testing.T) {
	h := newHarness(t, `{}`)
	h.subscribe(zeekproto.NodeIDTopic("id-w2"))
	h.wantMembers("")
	h.push(hello(t, zeekproto.ZeroMQHelloEvent, "worker-2", "id-w2", "id-m"))
	h.wantMembers("worker-2/id-w2/worker")

	h.push(hello(t, zeekproto.ZeroMQHelloEvent, "proxy-1", "id-p1", "id-m"))
	h.wantMembers("worker-2/id-w2/worker")
	h.subscribe(zeekproto.NodeIDTopic("id-p1"))
	h.wantMembers("proxy-1/id-p1/proxy worker-2/id-w2/worker")

	// Repeats: the same subscription, the node's hello to other nodes, a
	// Cluster::hello.
	h.subscribe(zeekproto.NodeIDTopic("id-p1"))
	h.push(hello(t, zeekproto.ZeroMQHelloEvent, "proxy-1", "id-p1", "id-w2"), hello(t, zeekproto.ClusterHelloEvent, "proxy-1", "id-p1", "id-w2"))
	h.push(hello(t, zeekproto.ZeroMQHelloEvent, "zpipe-bridge", "id-z", "id-p1"))
	h.subscribe(zeekproto.NodeIDTopic("id-z"))
	h.wantMembers("proxy-1/id-p1/proxy worker-2/id-w2/worker zpipe-bridge/id-z/unknown")
	if c := h.s.Counts(); c.NodesUp != 3 || c.NodesDown != 0 {
		t.Fatalf("counts %+v", c)
	}
	// Nothing pending is left to expire.
	h.clock.Advance(time.Minute)
	h.expire()
	if c := h.s.Counts(); c.ExpiredHellos+c.ExpiredSubscriptions != 0 {
		t.Fatalf("counts %+v", c)
	}
	// A Cluster::hello fills in a missed ZeroMQ::hello, but only for a
	// subscribed id.
	h.push(hello(t, zeekproto.ClusterHelloEvent, "logger", "id-l", "id-m"))
	h.wantMembers("proxy-1/id-p1/proxy worker-2/id-w2/worker zpipe-bridge/id-z/unknown")
	h.subscribe(zeekproto.NodeIDTopic("id-l"))
	h.push(hello(t, zeekproto.ClusterHelloEvent, "logger", "id-l", "id-m"))
	h.wantMembers("logger/id-l/logger proxy-1/id-p1/proxy worker-2/id-w2/worker zpipe-bridge/id-z/unknown")
}

// TestDeparture: the unsubscription of a node's id takes it down; that of
// an unknown id, or of other topics, changes nothing.
func TestDeparture(t *testing.T) {
	h := newHarness(t, `{}`)
	h.subscribe(zeekproto.NodeIDTopic("a"))
	h.push(hello(t, zeekproto.ZeroMQHelloEvent, "worker-1", "a", "m"))
	h.subscribe(zeekproto.NodeIDTopic("b"))
	h.push(hello(t, zeekproto.ZeroMQHelloEvent, "worker-2", "b", "m"))
	h.unsubscribe(zeekproto.NodeIDTopic("nobody"))
	h.unsubscribe("zeek.cluster.worker")
	h.unsubscribe(zeekproto.NodeIDTopicPrefix + "a") // not a node-id topic: no trailing dot
	h.wantMembers("worker-1/a/worker worker-2/b/worker")
	h.unsubscribe(zeekproto.NodeIDTopic("a"))
	h.wantMembers("worker-2/b/worker")
	h.wantLog(slog.LevelInfo, "node down")
	// Subscribing again needs a new hello.
	h.subscribe(zeekproto.NodeIDTopic("a"))
	h.wantMembers("worker-2/b/worker")
	h.push(hello(t, zeekproto.ZeroMQHelloEvent, "worker-1", "a", "b"))
	h.wantMembers("worker-1/a/worker worker-2/b/worker")
	if c := h.s.Counts(); c.NodesUp != 3 || c.NodesDown != 1 {
		t.Fatalf("counts %+v", c)
	}
}

// TestReincarnation: a ZeroMQ::hello for a name up with another id takes
// the old id down with Zeek's warning; the new id comes up with its
// subscription; the old id's late unsubscription changes nothing.
func TestReincarnation(t *testing.T) {
	h := newHarness(t, `{}`)
	h.subscribe(zeekproto.NodeIDTopic("old"))
	h.push(hello(t, zeekproto.ZeroMQHelloEvent, "worker-1", "old", "m"))
	h.wantMembers("worker-1/old/worker")

	h.push(hello(t, zeekproto.ZeroMQHelloEvent, "worker-1", "new", "m"))
	h.wantLog(slog.LevelWarn, "node 'worker-1' never said goodbye (old id:old new id:new")
	h.wantMembers("")
	h.subscribe(zeekproto.NodeIDTopic("new"))
	h.wantMembers("worker-1/new/worker")
	// A late hello of the old process (to another node) and a repeated
	// subscription of the old id do not take the new one down.
	h.push(hello(t, zeekproto.ZeroMQHelloEvent, "worker-1", "old", "other"))
	h.subscribe(zeekproto.NodeIDTopic("old"))
	h.wantMembers("worker-1/new/worker")
	h.unsubscribe(zeekproto.NodeIDTopic("old"))
	h.wantMembers("worker-1/new/worker")
	// Once gone, the old id is forgotten.
	if len(h.s.retired) != 0 {
		t.Fatalf("retired %v", h.s.retired)
	}
	// And in the other order: the new id's subscription first.
	h.subscribe(zeekproto.NodeIDTopic("newer"))
	h.wantMembers("worker-1/new/worker")
	h.push(hello(t, zeekproto.ZeroMQHelloEvent, "worker-1", "newer", "m"))
	h.wantLog(slog.LevelWarn, "node 'worker-1' never said goodbye (old id:new new id:newer")
	h.wantMembers("worker-1/newer/worker")
	if c := h.s.Counts(); c.Reincarnations != 2 || c.NodesUp != 3 || c.NodesDown != 2 {
		t.Fatalf("counts %+v", c)
	}
}

// TestExpiry: each half of a handshake expires after the expiration (not
// before) with Zeek's warning, counted. A subscription stays active after
// its entry expired, so a late hello still brings the node up.
func TestExpiry(t *testing.T) {
	h := newHarness(t, `{"expiration":"10s"}`)
	h.subscribe(zeekproto.NodeIDTopic("silent"))
	h.push(hello(t, zeekproto.ZeroMQHelloEvent, "worker-9", "unsubscribed", "m"))
	h.clock.Advance(9 * time.Second)
	h.expire()
	if c := h.s.Counts(); c.ExpiredSubscriptions+c.ExpiredHellos != 0 {
		t.Fatalf("expired early: %+v", c)
	}
	h.clock.Advance(time.Second)
	h.expire()
	h.wantLog(slog.LevelWarn, "Expired subscription from nodeid silent")
	h.wantLog(slog.LevelWarn, "Expired hello from nodeid unsubscribed")
	h.expire()
	if c := h.s.Counts(); c.ExpiredSubscriptions != 1 || c.ExpiredHellos != 1 {
		t.Fatalf("counts %+v", c)
	}
	h.wantMembers("")
	// The expired hello is forgotten: the subscription now is half a
	// handshake again.
	h.subscribe(zeekproto.NodeIDTopic("unsubscribed"))
	h.wantMembers("")
	// The expired subscription is still active.
	h.push(hello(t, zeekproto.ZeroMQHelloEvent, "bridge", "silent", "m"))
	h.wantMembers("bridge/silent/unknown")
}

// TestRunExpires: Run's timer expires half handshakes by itself.
func TestRunExpires(t *testing.T) {
	h := newHarness(t, `{"expiration":"20ms"}`)
	h.s.now = time.Now
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.s.Run(ctx) }()
	h.subscribe(zeekproto.NodeIDTopic("lonely"))
	deadline := time.Now().Add(5 * time.Second)
	for h.s.Counts().ExpiredSubscriptions == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the subscription did not expire")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.wantLog(slog.LevelWarn, "Expired subscription from nodeid lonely")
	h.s.CloseInput()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Observe mode sends nothing upstream.
	if got := h.upstream.Messages(); len(got) != 0 {
		t.Fatalf("upstream got %q", got)
	}
	// A context ending stops Run too.
	h2 := newHarness(t, `{}`)
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { done <- h2.s.Run(ctx2) }()
	cancel2()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
}

// participant returns a harness for a participating tracker named name
// with the given id.
func participant(t *testing.T, name, id string, clusterHello bool) *harness {
	return newHarness(t, fmt.Sprintf(`{"mode":"participate","name":%q,"node_id":%q,"cluster_hello":%v}`, name, id, clusterHello))
}

// TestParticipateMatchesCapture: a participant given worker-1's name and
// id answers the manager's captured node-id subscription with the
// captured ZeroMQ::hello, byte for byte, and (with cluster_hello) the
// manager's hello with the captured Cluster::hello; the same for the
// manager's side.
func TestParticipateMatchesCapture(t *testing.T) {
	managerID, workerID := capturedIDs(t)
	sides := []struct {
		name, id                 string
		sub                      [][]byte // the other node's subscription
		theirHello               string
		wantZeroMQ, wantCluster  string
		otherName, otherID, role string
	}{
		{"worker-1", workerID, zeektest.MustVector(t, "zeek-sub-nodeid.hex"), "zeek-event-zeromq-hello-from-manager.hex",
			"zeek-event-zeromq-hello.hex", "zeek-event-cluster-hello.hex", "manager", managerID, zeekproto.RoleManager},
		{"manager", managerID, [][]byte{message.SubscriptionFrame(true, []byte(zeekproto.NodeIDTopic(workerID)))}, "zeek-event-zeromq-hello.hex",
			"zeek-event-zeromq-hello-from-manager.hex", "zeek-event-cluster-hello-from-manager.hex", "worker-1", workerID, zeekproto.RoleWorker},
	}
	for _, side := range sides {
		t.Run(side.name, func(t *testing.T) {
			h := participant(t, side.name, side.id, true)
			h.observe(side.sub...)
			got := h.out.Messages()
			if want := zeektest.MustVector(t, side.wantZeroMQ); len(got) != 1 || !sameMessages(got, [][][]byte{want}) {
				t.Fatalf("sent %q\nwant %q", got, want)
			}
			their := zeektest.MustVector(t, side.theirHello)
			h.push(their)
			got = h.out.Messages()
			if want := zeektest.MustVector(t, side.wantCluster); len(got) != 3 || !sameMessages(got[1:], [][][]byte{their, want}) {
				t.Fatalf("after their hello, out holds %q\nwant the hello passed on, then %q", got, want)
			}
			h.wantMembers(side.otherName + "/" + side.otherID + "/" + side.role)
			c := h.s.Counts()
			if c.ZeroMQHellosSent != 1 || c.ClusterHellosSent != 1 {
				t.Fatalf("counts %+v", c)
			}
			if st := h.s.Stats(); st.Received != 1 || st.Sent != 3 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestParticipateHelloFirst: when the other node's hello arrives before
// its subscription, the participant sends ZeroMQ::hello and then
// Cluster::hello on the subscription (docs/zeek-wire.md#hello-protocol,
// step 1), in that order.
func TestParticipateHelloFirst(t *testing.T) {
	h := participant(t, "zpipe", "me", true)
	h.push(hello(t, zeekproto.ZeroMQHelloEvent, "worker-1", "w1", "me"))
	h.subscribe(zeekproto.NodeIDTopic("w1"))
	got := h.out.Messages()
	if len(got) != 3 {
		t.Fatalf("out %q", got)
	}
	for i, event := range []string{zeekproto.ZeroMQHelloEvent, zeekproto.ClusterHelloEvent} {
		m := got[1+i]
		ev, err := zeektest.DecodeEvent(m[3])
		if err != nil {
			t.Fatal(err)
		}
		args, _ := ev.StringArgs()
		if string(m[0]) != zeekproto.NodeIDTopic("w1") || string(m[1]) != "me" || string(m[2]) != DefaultFormat || ev.Name != event || strings.Join(args, ",") != "zpipe,me" {
			t.Fatalf("message %d: %q %s%v", 1+i, m[:3], ev.Name, args)
		}
	}
}

// TestParticipateWithoutClusterHello: without cluster_hello only
// ZeroMQ::hello goes out, once per subscription of another node (not for
// the own id, not for repeats), and membership still works. Messages from
// the own id are ignored.
func TestParticipateWithoutClusterHello(t *testing.T) {
	h := participant(t, "zpipe-logger", "me", false)
	h.subscribe(zeekproto.NodeIDTopic("me"))
	h.subscribe(zeekproto.NodeIDTopic("w1"))
	h.subscribe(zeekproto.NodeIDTopic("w1"))
	h.subscribe(zeekproto.NodeIDTopic("w2"))
	var topics []string
	for _, m := range h.out.Messages() {
		ev, err := zeektest.DecodeEvent(m[3])
		if err != nil {
			t.Fatal(err)
		}
		if ev.Name != zeekproto.ZeroMQHelloEvent || string(m[1]) != "me" {
			t.Fatalf("sent %q", m)
		}
		topics = append(topics, string(m[0]))
	}
	if got := strings.Join(topics, " "); got != zeekproto.NodeIDTopic("w1")+" "+zeekproto.NodeIDTopic("w2") {
		t.Fatalf("ZeroMQ::hello sent to %q", got)
	}
	in := [][][]byte{
		hello(t, zeekproto.ZeroMQHelloEvent, "worker-1", "w1", "me"), hello(t, zeekproto.ClusterHelloEvent, "worker-1", "w1", "me"),
		hello(t, zeekproto.ZeroMQHelloEvent, "zpipe-logger", "me", "w2"), // looped back
		hello(t, zeekproto.ZeroMQHelloEvent, "impostor", "me", "w2"),     // claims our id
	}
	h.push(in...)
	h.wantMembers("worker-1/w1/worker")
	// Only the pushed messages were added: no Cluster::hello.
	if got := h.out.Messages(); !sameMessages(got[2:], in) {
		t.Fatalf("out %q", got)
	}
	if c := h.s.Counts(); c.ZeroMQHellosSent != 2 || c.ClusterHellosSent != 0 || c.Malformed != 0 {
		t.Fatalf("counts %+v", c)
	}
}

// TestParticipateRun: Run subscribes to the own node-id topic upstream;
// after CloseInput it unsubscribes (the captured frame for worker-1's id)
// and returns.
func TestParticipateRun(t *testing.T) {
	_, workerID := capturedIDs(t)
	h := participant(t, "worker-1", workerID, false)
	done := make(chan error, 1)
	go func() { done <- h.s.Run(context.Background()) }()
	want := message.SubscriptionFrame(true, []byte(zeekproto.NodeIDTopic(workerID)))
	deadline := time.Now().Add(5 * time.Second)
	for len(h.upstream.Messages()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not subscribe")
		}
		time.Sleep(time.Millisecond)
	}
	if got := h.upstream.Messages(); len(got) != 1 || len(got[0]) != 1 || !bytes.Equal(got[0][0], want) {
		t.Fatalf("upstream got %q", got)
	}
	h.s.CloseInput()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var captured []byte
	for _, m := range zeektest.MustHandshakeSequence(t) {
		if m.Seq == 22 {
			captured = m.Frames[0]
		}
	}
	if got := h.upstream.Messages(); len(got) != 2 || !bytes.Equal(got[1][0], captured) {
		t.Fatalf("upstream got %q, want the unsubscription %q", got, captured)
	}
}

// TestGeneratedID: without node_id the participant's id is shaped like
// Zeek's and differs per stage.
func TestGeneratedID(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^zeromq_zpipe-logger_` + regexp.QuoteMeta(host) + fmt.Sprintf("_%d_N[0-9A-Za-z]+$", os.Getpid()))
	a := participant(t, "zpipe-logger", "", false).s.NodeID()
	b := participant(t, "zpipe-logger", "", false).s.NodeID()
	if !re.MatchString(a) || !re.MatchString(b) || a == b {
		t.Fatalf("ids %q %q", a, b)
	}
	id, err := zeekproto.NewNodeID("worker-1", "zeek1", 4242)
	if err != nil || !regexp.MustCompile(`^zeromq_worker-1_zeek1_4242_N[0-9A-Za-z]{10,17}$`).MatchString(id) {
		t.Fatalf("NewNodeID = %q, %v", id, err)
	}
}

// TestBadInput: payloads that do not decode, hellos with wrong argument
// counts or types, unusable names and ids, odd subscription messages are
// counted and never crash; every pushed message is still passed on
// unchanged and in order; nothing comes up.
func TestBadInput(t *testing.T) {
	h := participant(t, "zpipe", "me", true)
	payload := func(event string, args ...any) []byte {
		p, err := zeektest.EncodeEvent(event, args...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	topic := zeekproto.NodeIDTopic("me")
	msg := func(p []byte) [][]byte { return [][]byte{[]byte(topic), []byte("x"), []byte(DefaultFormat), p} }
	logBatch := zeektest.MustVector(t, "zeek-log-test.hex")
	in := [][][]byte{
		msg([]byte("\x0e\x03garbage")), // does not decode
		msg(nil),                       // empty payload
		msg(payload(zeekproto.ZeroMQHelloEvent, "only-name")),                              // one argument
		msg(payload(zeekproto.ZeroMQHelloEvent, "a", "b", "c")),                            // three
		msg(payload(zeekproto.ZeroMQHelloEvent, "worker-1", uint64(7))),                    // a count
		msg(payload(zeekproto.ClusterHelloEvent, []any{"x"}, "id")),                        // a vector
		msg(payload(zeekproto.ZeroMQHelloEvent, "", "id-empty-name")),                      // empty name
		msg(payload(zeekproto.ZeroMQHelloEvent, "worker-1", "bad\x00id")),                  // control character
		msg(payload(zeekproto.ZeroMQHelloEvent, "worker-1", string([]byte{0xff, 0xfe}))),   // not UTF-8
		msg(payload(zeekproto.ZeroMQHelloEvent, "worker-1", strings.Repeat("x", 5000))),    // too long
		{[]byte(topic), []byte("x"), []byte(DefaultFormat), logBatch[3]},                   // a log batch payload
		{[]byte(topic), []byte("x"), []byte("broker-json-v1"), []byte(`{}`)},               // another format: undecoded
		msg(payload("Other::event", "a", "b")),                                             // another event: ignored
		{[]byte(topic), []byte("short")},                                                   // two frames
		{[]byte(topic)},                                                                    // one frame
		logBatch,                                                                           // data
		{[]byte(zeekproto.NodeIDTopicPrefix), []byte("x"), []byte(DefaultFormat), nil},     // bare prefix, empty payload
		{[]byte(zeekproto.NodeIDTopic("a.b-c_d")), []byte("x"), []byte(DefaultFormat), {}}, // id with dots
	}
	h.push(in...)
	h.push(in[:3]...)
	h.observe(
		message.SubscriptionFrame(true, []byte(zeekproto.NodeIDTopic(""))),
		message.SubscriptionFrame(true, []byte(zeekproto.NodeIDTopic("tab\there"))),
		message.SubscriptionFrame(false, []byte(zeekproto.NodeIDTopic("\x7f"))),
		message.SubscriptionFrame(true, []byte(zeekproto.NodeIDTopicPrefix)), // wildcard: not a node
		[]byte{0x02, 'x'}, // neither 00 nor 01: ignored as Zeek does
		nil,               // empty frame: ignored
	)
	var multi message.Batch
	multi.Append([]byte("\x01zeek.cluster.nodeid.a."), []byte("extra"))
	if err := h.s.ObserveSubscriptions(context.Background(), &multi); err != nil {
		t.Fatal(err)
	}
	h.wantMembers("")
	want := append(append([][][]byte{}, in...), in[:3]...)
	if !sameMessages(h.out.Messages(), want) {
		t.Fatalf("passed on %d messages, want the %d pushed, unchanged", len(h.out.Messages()), len(want))
	}
	c := h.s.Counts()
	// in: 10 malformed hellos + the log batch + 2 empty payloads at the end
	// (do not decode) = 13, again 3, then 3 subscriptions + 1 multi-frame.
	if c.Malformed != 13+3+4 || c.NodesUp != 0 || c.ZeroMQHellosSent != 0 {
		t.Fatalf("counts %+v", c)
	}
	if st := h.s.Stats(); st.Received != uint64(len(want)) || st.Sent != st.Received || st.Undecoded != 1 || len(st.Dropped) != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPassThrough: data messages of every shape pass unchanged and in
// order, in one batch and across batches; an empty batch is fine.
func TestPassThrough(t *testing.T) {
	h := newHarness(t, `{}`)
	ev := zeektest.MustVector(t, "zeek-event-test_event.hex")
	logBatch := zeektest.MustVector(t, "zeek-log-conn-1rec-a.hex")
	var want [][][]byte
	for i := range 50 {
		msgs := [][][]byte{ev, stagetest.Msg(fmt.Sprint("t", i), "", ""), logBatch, {{}}, hello(t, zeekproto.ZeroMQHelloEvent, "worker-1", fmt.Sprint("id", i), "m")}
		h.push(msgs...)
		want = append(want, msgs...)
	}
	h.push()
	if !sameMessages(h.out.Messages(), want) {
		t.Fatal("messages changed or reordered")
	}
	if st := h.s.Stats(); st.Received != uint64(len(want)) || st.Sent != st.Received {
		t.Fatalf("stats %+v", st)
	}
}

// TestNewErrors: what New refuses, with the attribute named.
func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		config, want string
		noCodecs     bool
		noUpstream   bool
	}{
		{config: `{"mode":"participate"}`, want: `attribute "name": required`},
		{config: `{"mode":"participate","name":"zpipe"}`, noUpstream: true, want: "upstream"},
		{config: `{"mode":"participate","name":"zpipe","node_id":"a\nb"}`, want: `attribute "node_id"`},
		{config: `{"mode":"participate","name":"bad\u0001name"}`, want: `attribute "name"`},
		{config: `{"mode":"bystander"}`, want: `attribute "mode"`},
		{config: `{"expiration":"soon"}`, want: `attribute "expiration"`},
		{config: `{"expiration":"0s"}`, want: `attribute "expiration"`},
		{config: `{"format":"broker-bin-v9"}`, want: `attribute "format"`},
		{config: `{"mode":"participate","name":"zpipe","format":"zpipe-jsonl-v1"}`, want: `attribute "format"`},
		{config: `{}`, noCodecs: true, want: "no codecs"},
		{config: `{`, want: "hello_tracker"},
	} {
		env := stagetest.Env(t, &stagetest.Collector{})
		if !tc.noCodecs {
			env.Codecs = stagetest.Codecs(t)
		}
		if !tc.noUpstream {
			env.Upstream = &stagetest.Collector{}
		}
		_, err := Kind.New(env, []byte(tc.config))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.config, err, tc.want)
		}
	}
	// Observe mode needs no upstream and no name.
	env := stagetest.Env(t, &stagetest.Collector{})
	env.Codecs = stagetest.Codecs(t)
	if _, err := Kind.New(env, []byte(`{"mode":"observe","expiration":"10s","format":"broker-bin-v1","name":"","node_id":"","cluster_hello":false}`)); err != nil {
		t.Fatal(err)
	}
}

// TestJSONFormat: a cluster on broker-json-v1 is followed and answered in
// that format.
func TestJSONFormat(t *testing.T) {
	h := newHarness(t, `{"mode":"participate","name":"zpipe","node_id":"me","format":"broker-json-v1"}`)
	h.subscribe(zeekproto.NodeIDTopic("w1"))
	out := h.out.Messages()
	if len(out) != 1 || string(out[0][2]) != "broker-json-v1" || !bytes.Contains(out[0][3], []byte(`Cluster::Backend::ZeroMQ::hello`)) {
		t.Fatalf("out %q", out)
	}
	// Its own hello, re-addressed as if from w1, decodes and brings w1 up.
	payload := bytes.ReplaceAll(bytes.ReplaceAll(out[0][3], []byte(`"me"`), []byte(`"w1"`)), []byte(`"zpipe"`), []byte(`"worker-1"`))
	h.push([][]byte{[]byte(zeekproto.NodeIDTopic("me")), []byte("w1"), []byte("broker-json-v1"), payload})
	h.wantMembers("worker-1/w1/worker")
}

// TestConcurrent: Push, ObserveSubscriptions, Members, Stats and Run at
// once (run with -race).
func TestConcurrent(t *testing.T) {
	h := participant(t, "zpipe", "me", true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- h.s.Run(ctx) }()
	var wg sync.WaitGroup
	const nodes = 40
	for w := range 4 {
		wg.Add(3)
		go func() {
			defer wg.Done()
			for i := w; i < nodes; i += 4 {
				h.subscribe(zeekproto.NodeIDTopic(fmt.Sprint("id", i)))
			}
		}()
		go func() {
			defer wg.Done()
			for i := w; i < nodes; i += 4 {
				h.push(hello(t, zeekproto.ZeroMQHelloEvent, fmt.Sprint("worker-", i), fmt.Sprint("id", i), "me"))
			}
		}()
		go func() {
			defer wg.Done()
			for range 50 {
				_ = h.s.Members()
				_ = h.s.Stats()
				_ = h.s.Counts()
			}
		}()
	}
	wg.Wait()
	if got := len(h.s.Members()); got != nodes {
		t.Fatalf("%d members, want %d", got, nodes)
	}
	// Each node got its ZeroMQ::hello before its Cluster::hello.
	seen := map[string]string{}
	for _, m := range h.out.Messages() {
		if string(m[1]) != "me" {
			continue
		}
		ev, err := zeektest.DecodeEvent(m[3])
		if err != nil {
			t.Fatal(err)
		}
		topic := string(m[0])
		switch ev.Name {
		case zeekproto.ZeroMQHelloEvent:
			if seen[topic] != "" {
				t.Fatalf("%s: ZeroMQ::hello after %s", topic, seen[topic])
			}
			seen[topic] = "zmq"
		case zeekproto.ClusterHelloEvent:
			if seen[topic] != "zmq" {
				t.Fatalf("%s: Cluster::hello before ZeroMQ::hello", topic)
			}
			seen[topic] = "cluster"
		}
	}
	if c := h.s.Counts(); c.ZeroMQHellosSent != nodes || c.ClusterHellosSent != nodes {
		t.Fatalf("counts %+v", c)
	}
	h.s.CloseInput()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
}

// TestNoForward: with forward = false a participant passes on nothing it
// received — not even the hellos it decodes — and still sends its own
// hellos to its output.
func TestNoForward(t *testing.T) {
	h := newHarness(t, `{"mode":"participate","name":"zpipe-1","node_id":"zpipe_id","forward":false}`)
	ev := zeektest.MustVector(t, "zeek-event-test_event.hex")
	h.push(ev, hello(t, zeekproto.ZeroMQHelloEvent, "worker-1", "w1", "zpipe_id"))
	if n := len(h.out.Messages()); n != 0 {
		t.Fatalf("%d messages passed on with forward = false", n)
	}
	h.subscribe(zeekproto.NodeIDTopic("w1"))
	h.wantMembers("worker-1/w1/worker")
	msgs := h.out.Messages()
	if len(msgs) != 1 || string(msgs[0][0]) != zeekproto.NodeIDTopic("w1") || string(msgs[0][1]) != "zpipe_id" {
		t.Fatalf("output %q, want only the ZeroMQ::hello to w1", msgs)
	}
	if st := h.s.Stats(); st.Received != 2 || st.Sent != 1 {
		t.Fatalf("stats %+v, want 2 received, 1 sent", st)
	}
}

// TestMembershipTopic: every node up and down is sent on the membership
// topic as an event an independent decoder reads, in the order of the
// changes, after the hellos the change produced.
func TestMembershipTopic(t *testing.T) {
	for _, tc := range []struct{ config, sender string }{
		{`{"membership_topic":"zpipe.membership"}`, "zpipe"},
		{`{"mode":"participate","name":"zpipe-1","node_id":"zpipe_id","forward":false,"membership_topic":"zpipe.membership"}`, "zpipe_id"},
	} {
		h := newHarness(t, tc.config)
		h.subscribe(zeekproto.NodeIDTopic("w1"))
		h.push(hello(t, zeekproto.ZeroMQHelloEvent, "worker-1", "w1", "m"))
		h.subscribe(zeekproto.NodeIDTopic("m1"))
		h.push(hello(t, zeekproto.ZeroMQHelloEvent, "manager", "m1", "w1"))
		h.unsubscribe(zeekproto.NodeIDTopic("w1"))
		var got []string
		for _, m := range h.out.Messages() {
			if string(m[0]) != "zpipe.membership" {
				continue
			}
			if string(m[1]) != tc.sender || string(m[2]) != DefaultFormat {
				t.Fatalf("frames 1, 2: %q %q, want %q %q", m[1], m[2], tc.sender, DefaultFormat)
			}
			ev, err := zeektest.DecodeEvent(m[3])
			if err != nil {
				t.Fatal(err)
			}
			args, ok := ev.StringArgs()
			if !ok {
				t.Fatalf("%s: args %v", ev.Name, ev.Args)
			}
			got = append(got, ev.Name+"("+strings.Join(args, ",")+")")
		}
		want := []string{
			NodeUpEvent + "(worker-1,w1,worker)",
			NodeUpEvent + "(manager,m1,manager)",
			NodeDownEvent + "(worker-1,w1,worker)",
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("%s: membership events\n %q\nwant\n %q", tc.config, got, want)
		}
	}
}

// registeredTelemetry records what a stage registers through its
// Env.Telemetry.
type registeredTelemetry struct{ members []func() []stage.Member }

func (r *registeredTelemetry) ObserveMembers(fn func() []stage.Member) {
	r.members = append(r.members, fn)
}

// TestTelemetryMembers: the tracker registers its members with the
// runtime's telemetry once, and what it registered follows nodes up and
// down, by name and role.
func TestTelemetryMembers(t *testing.T) {
	tel := &registeredTelemetry{}
	h := &harness{t: t, out: &stagetest.Collector{}, upstream: &stagetest.Collector{}, clock: &clock{t: epoch}}
	env := stagetest.Env(t, h.out)
	h.log = &recorder{echo: env.Logger.Handler()}
	env.Logger = slog.New(h.log)
	env.Codecs = stagetest.Codecs(t)
	env.Telemetry = tel
	st, err := Kind.New(env, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	h.s = st.(*Stage)
	if len(tel.members) != 1 {
		t.Fatalf("%d membership sources registered, want 1", len(tel.members))
	}
	observed := tel.members[0]
	if m := observed(); len(m) != 0 {
		t.Fatalf("before any hello: %+v", m)
	}
	h.subscribe(zeekproto.NodeIDTopic("w1"))
	h.push(hello(t, zeekproto.ZeroMQHelloEvent, "worker-1", "w1", "m"))
	if m := observed(); !slices.Equal(m, []stage.Member{{Name: "worker-1", Role: zeekproto.RoleWorker}}) {
		t.Fatalf("worker-1 up: %+v", m)
	}
	h.unsubscribe(zeekproto.NodeIDTopic("w1"))
	if m := observed(); len(m) != 0 {
		t.Fatalf("worker-1 down: %+v", m)
	}
	bad := stagetest.Env(t, h.out)
	bad.Telemetry = tel
	if _, err := Kind.New(bad, []byte(`{"mode":"participate"}`)); err == nil {
		t.Fatal("a tracker without codecs started")
	}
	if len(tel.members) != 1 {
		t.Fatal("a tracker that failed to start registered")
	}
}
