// Package hello is the hello_tracker stage: it follows the membership of a
// Zeek cluster on the ZeroMQ backend (docs/zeek-wire.md#hello-protocol)
// from the node-id subscriptions and the hello events that cross it, and,
// in participate mode, takes part in the hello protocol as a node of its
// own.
//
// # Data path
//
// Every message pushed in is passed on to Env.Out unchanged and in order;
// the tracker never drops. Only messages with Zeek's four frames whose
// topic starts with zeek.cluster.nodeid. and whose format is the
// configured one are decoded (through Env.Codecs); of those, the events
// Cluster::Backend::ZeroMQ::hello and Cluster::hello feed the membership.
//
// # Membership
//
// Subscriptions reach the stage through ObserveSubscriptions: 01/00
// zeek.cluster.nodeid.<id>. is the subscription/unsubscription of node
// <id>. A node is up once both its node-id subscription and its
// ZeroMQ::hello(name, id) have been seen, in either order; it is down at
// the unsubscription of its id. Half handshakes (a subscription without a
// hello, or a hello without a subscription) expire after the expiration,
// with Zeek's warnings "Expired subscription from nodeid <id>" and
// "Expired hello from nodeid <id>". An expired subscription stays known as
// active, so a hello arriving later still brings the node up; an expired
// hello is forgotten, as in Zeek. A ZeroMQ::hello for a name that is up
// with another id takes the old id down first, with Zeek's warning "node
// '<name>' never said goodbye (old id:<old> new id:<new>"; the old id is
// then ignored until its unsubscription arrives, so that a late hello of
// the old process cannot take the new one down again. A Cluster::hello
// brings a node up only when its subscription was seen and it is not up
// yet (a tracker that missed the ZeroMQ::hello); otherwise it is ignored.
// Repeated subscriptions of an id already subscribed are ignored (Zeek
// raises its subscription event only once per topic), and so are repeated
// hellos of a node that is up: an observer sees a node's ZeroMQ::hello to
// every other node.
//
// The role of a node is derived from its name by zeekproto.RoleOf.
//
// # Participate mode
//
// The stage is then a node with its own name and id. When Run starts it
// sends 01 zeek.cluster.nodeid.<own id>. through Env.Upstream, so that the
// other nodes discover it; when the input is closed it sends 00 … (its
// departure) and Run returns. For every node-id subscription of another id
// it publishes ZeroMQ::hello(name, own id) to exactly that topic through
// Env.Out, a four-frame message (topic, own id, format, payload); with
// cluster_hello it also publishes Cluster::hello(name, own id) to a node's
// node-id topic when that node comes up (docs/zeek-wire.md#hello-protocol,
// steps 1 and 2). Messages sent by the stage's own id, and its own
// subscription, are ignored.
//
// # Expiry
//
// Run is the stage's goroutine: it sleeps on a timer set to the earliest
// deadline of the pending half handshakes, and is woken when one is added.
package hello

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/codec/zmsgpack"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/ratelog"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/core/zeekproto"
)

// Modes of the stage.
const (
	// ModeObserve only watches.
	ModeObserve = "observe"
	// ModeParticipate takes part in the hello protocol as a node.
	ModeParticipate = "participate"
)

// Defaults of the attributes.
const (
	// DefaultExpiration is Zeek's Cluster::Backend::ZeroMQ::hello_expiration.
	DefaultExpiration = 10 * time.Second
	// DefaultFormat is Zeek's default event format.
	DefaultFormat = zeekproto.FormatBrokerBin
)

// Kind is the hello_tracker stage kind.
var Kind = stage.Kind{
	Name: "hello_tracker",
	Description: "Follows Zeek cluster membership (ZeroMQ backend) from node-id subscriptions and hello events; " +
		"passes every message on unchanged. In participate mode it also takes part in the hello protocol as a node.",
	Schema: schema.Schema{Attributes: []schema.Attribute{
		{Name: "mode", Type: schema.String, Default: ModeObserve, OneOf: []string{ModeObserve, ModeParticipate},
			Description: "observe: only watch; participate: be a cluster node (subscribe to its node-id topic, answer other nodes' node-id subscriptions with ZeroMQ::hello)."},
		{Name: "expiration", Type: schema.Duration, Default: DefaultExpiration.String(),
			Description: "How long half a handshake (a node-id subscription without a hello, or the reverse) is kept before it expires with a warning (Zeek's hello_expiration)."},
		{Name: "format", Type: schema.String, Default: DefaultFormat,
			Description: "The cluster's event format (frame 2): hello events are decoded, and in participate mode encoded, in it."},
		{Name: "name", Type: schema.String, Default: "",
			Description: "This node's name, the first argument of the hellos it sends (e.g. zpipe-logger). Required in participate mode."},
		{Name: "node_id", Type: schema.String, Default: "",
			Description: "This node's id in participate mode; empty: generate one shaped like Zeek's, zeromq_<name>_<hostname>_<pid>_N<random base62>."},
		{Name: "cluster_hello", Type: schema.Bool, Default: false,
			Description: "participate mode: also send Cluster::hello to nodes that come up. Only useful when name is an entry of the Zeek nodes' Cluster::nodes; otherwise each Zeek node logs an error."},
		{Name: "forward", Type: schema.Bool, Default: true,
			Description: "Pass the messages pushed in on to the outputs. false: the outputs get only what the tracker itself produces (its hellos, its membership events) — what a participant's XPUB sink must get, lest it publish back what it received."},
		{Name: "membership_topic", Type: schema.String, Default: "",
			Description: "When set, every membership change is also sent to the outputs as an event on this topic, in the cluster's format: " + NodeUpEvent + "(name, id, role) or " + NodeDownEvent + "(name, id, role)."},
	}},
	NeedsCodecs: true,
	New:         New,
}

type config struct {
	Mode         string `json:"mode"`
	Expiration   string `json:"expiration"`
	Format       string `json:"format"`
	Name         string `json:"name"`
	NodeID       string `json:"node_id"`
	ClusterHello bool   `json:"cluster_hello"`
	// Forward is a pointer so that an absent attribute means true.
	Forward         *bool  `json:"forward"`
	MembershipTopic string `json:"membership_topic"`
}

// Events sent on the membership topic.
const (
	// NodeUpEvent announces a node that came up: (name, id, role).
	NodeUpEvent = "zpipe::node_up"
	// NodeDownEvent announces a node that went down: (name, id, role).
	NodeDownEvent = "zpipe::node_down"
	// observerSender is frame 1 of the membership events of an observing
	// tracker, which has no node id of its own.
	observerSender = "zpipe"
)

// Member is a cluster node the tracker sees up.
type Member struct {
	// Name is the node's name (Cluster::node), the first argument of its
	// hello.
	Name string
	// ID is the node's id (Cluster::node_id()).
	ID string
	// Role is derived from Name by zeekproto.RoleOf.
	Role string
	// Since is when the node came up.
	Since time.Time
}

// Counts are the tracker's own counters, monotonic over its life.
type Counts struct {
	// Hellos counts ZeroMQ::hello and Cluster::hello events decoded.
	Hellos uint64
	// Malformed counts unusable input: hello payloads that do not decode,
	// hellos without two string arguments, ids and names with odd
	// characters, subscription messages that are not single frames.
	Malformed uint64
	// ExpiredSubscriptions and ExpiredHellos count the half handshakes
	// that expired.
	ExpiredSubscriptions, ExpiredHellos uint64
	// NodesUp and NodesDown count membership changes; Reincarnations the
	// nodes that said hello with a new id while up with another.
	NodesUp, NodesDown, Reincarnations uint64
	// ZeroMQHellosSent and ClusterHellosSent count the hellos the stage
	// sent in participate mode.
	ZeroMQHellosSent, ClusterHellosSent uint64
}

type counts struct {
	hellos, malformed, expiredSubs, expiredHellos atomic.Uint64
	up, down, reincarnations                      atomic.Uint64
	zmqSent, clusterSent                          atomic.Uint64
}

// pendingHello is a ZeroMQ::hello whose node-id subscription was not seen.
type pendingHello struct {
	name string
	at   time.Time
}

// Stage is a running hello_tracker.
type Stage struct {
	env         stage.Env
	log         *slog.Logger
	mode        string
	expiration  time.Duration
	format      string
	name, id    string // participate mode
	sendCluster bool
	// forward passes the input on; membershipTopic, when set, receives
	// membership events.
	forward         bool
	membershipTopic string
	// zmqHello and clusterHello are the encoded payloads of this node's
	// hellos (participate mode); they never change.
	zmqHello, clusterHello []byte

	counters *stage.Counters
	counts   counts
	limiter  *ratelog.Limiter
	// now is the clock; tests replace it before the stage is used.
	now func() time.Time

	closeOnce sync.Once
	closed    chan struct{}
	wake      chan struct{}

	// emitMu orders the processing of subscriptions and hellos with the
	// sending of what it produces, so that a ZeroMQ::hello to a node
	// always leaves before the Cluster::hello to it.
	emitMu sync.Mutex

	mu sync.Mutex
	// members are the nodes up, by name; byID maps their ids to names.
	members map[string]Member
	byID    map[string]string
	// subscribed holds the ids whose node-id subscription is active.
	subscribed map[string]struct{}
	// pendingSubs (Zeek's nodeid_subscriptions) and pendingHellos
	// (nodeid_hellos) are the half handshakes, by id.
	pendingSubs   map[string]time.Time
	pendingHellos map[string]pendingHello
	// retired holds ids of incarnations replaced by a newer one of the
	// same name, until their unsubscription.
	retired map[string]struct{}
}

// New makes a hello_tracker stage. In participate mode it needs
// Env.Upstream (to subscribe to its node-id topic) and a codec encoding
// the format; it encodes its hellos once, here.
func New(env stage.Env, raw []byte) (stage.Stage, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("hello_tracker: %w", err)
	}
	if c.Mode == "" {
		c.Mode = ModeObserve
	}
	if c.Format == "" {
		c.Format = DefaultFormat
	}
	exp := DefaultExpiration
	if c.Expiration != "" {
		d, err := time.ParseDuration(c.Expiration)
		if err != nil {
			return nil, fmt.Errorf("attribute \"expiration\": %w", err)
		}
		if d <= 0 {
			return nil, fmt.Errorf("attribute \"expiration\": want a positive duration, have %s", c.Expiration)
		}
		exp = d
	}
	if env.Codecs == nil {
		return nil, errors.New("hello_tracker: no codecs available to decode hello events (no zpipe-codec-* plugin found)")
	}
	ctx := context.Background()
	if _, err := env.Codecs.Lookup(ctx, c.Format, registry.OpDecode); err != nil {
		return nil, fmt.Errorf("attribute \"format\": %w", err)
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Stage{
		env: env, log: log, mode: c.Mode, expiration: exp, format: c.Format,
		counters:      stage.NewCounters(),
		limiter:       ratelog.New(log, ratelog.DefaultInterval),
		now:           time.Now,
		closed:        make(chan struct{}),
		wake:          make(chan struct{}, 1),
		members:       map[string]Member{},
		byID:          map[string]string{},
		subscribed:    map[string]struct{}{},
		pendingSubs:   map[string]time.Time{},
		pendingHellos: map[string]pendingHello{},
		retired:       map[string]struct{}{},
		forward:       c.Forward == nil || *c.Forward,
	}
	if c.MembershipTopic != "" {
		if err := checkText("membership topic", c.MembershipTopic); err != nil {
			return nil, fmt.Errorf("attribute \"membership_topic\": %w", err)
		}
		if _, err := env.Codecs.Lookup(ctx, c.Format, registry.OpEncode); err != nil {
			return nil, fmt.Errorf("attribute \"membership_topic\": membership events are encoded in the format: %w", err)
		}
		if env.Out == nil {
			return nil, errors.New("attribute \"membership_topic\": the tracker has no output to send membership events to")
		}
		s.membershipTopic = c.MembershipTopic
	}
	switch c.Mode {
	case ModeObserve:
	case ModeParticipate:
		if err := s.participate(ctx, c); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("attribute \"mode\": %q is not one of %s, %s", c.Mode, ModeObserve, ModeParticipate)
	}
	if env.Telemetry != nil {
		env.Telemetry.ObserveMembers(s.observedMembers)
	}
	return s, nil
}

// participate sets up participate mode.
func (s *Stage) participate(ctx context.Context, c config) error {
	if c.Name == "" {
		return errors.New(`attribute "name": required in participate mode (this node's name, e.g. zpipe-logger)`)
	}
	if err := checkText("name", c.Name); err != nil {
		return fmt.Errorf("attribute \"name\": %w", err)
	}
	if s.env.Upstream == nil {
		return errors.New("hello_tracker: participate mode needs an upstream subscription-accepting source (xsub) to subscribe to its node-id topic, and the pipeline has none")
	}
	if s.env.Out == nil {
		return errors.New("hello_tracker: participate mode needs an output to publish its hellos")
	}
	id := c.NodeID
	if id == "" {
		var err error
		if id, err = zeekproto.NewNodeID(c.Name, "", 0); err != nil {
			return fmt.Errorf("hello_tracker: %w", err)
		}
	}
	if err := checkText("node id", id); err != nil {
		return fmt.Errorf("attribute \"node_id\": %w", err)
	}
	s.name, s.id, s.sendCluster = c.Name, id, c.ClusterHello
	docs := []zmsgpack.Document{
		{Event: &value.Event{Name: zeekproto.ZeroMQHelloEvent, Args: []value.Value{value.String(s.name), value.String(s.id)}}},
		{Event: &value.Event{Name: zeekproto.ClusterHelloEvent, Args: []value.Value{value.String(s.name), value.String(s.id)}}},
	}
	enc, err := s.env.Codecs.Encode(ctx, s.format, docs)
	if err != nil {
		return fmt.Errorf("attribute \"format\": encode hellos: %w", err)
	}
	for i, e := range enc {
		if e.Err != nil {
			return fmt.Errorf("attribute \"format\": encode %s: %w", docs[i].Event.Name, e.Err)
		}
	}
	s.zmqHello, s.clusterHello = enc[0].Payload, enc[1].Payload
	return nil
}

// NodeID returns the stage's own node id in participate mode ("" when
// observing).
func (s *Stage) NodeID() string { return s.id }

// Name returns the stage's own node name in participate mode.
func (s *Stage) Name() string { return s.name }

// Stats returns the stage's counters: Received counts messages pushed in,
// Sent every message passed to Env.Out (the data passed on plus the hellos
// the stage publishes), Undecoded the candidates (node-id topic) that were
// not decoded because their format is not the configured one or the codec
// failed. The stage drops nothing.
func (s *Stage) Stats() stage.Stats { return s.counters.Stats() }

// Counts returns the tracker's own counters.
func (s *Stage) Counts() Counts {
	c := &s.counts
	return Counts{
		Hellos: c.hellos.Load(), Malformed: c.malformed.Load(),
		ExpiredSubscriptions: c.expiredSubs.Load(), ExpiredHellos: c.expiredHellos.Load(),
		NodesUp: c.up.Load(), NodesDown: c.down.Load(), Reincarnations: c.reincarnations.Load(),
		ZeroMQHellosSent: c.zmqSent.Load(), ClusterHellosSent: c.clusterSent.Load(),
	}
}

// Members returns the nodes up, sorted by name.
func (s *Stage) Members() []Member {
	s.mu.Lock()
	out := make([]Member, 0, len(s.members))
	for _, m := range s.members {
		out = append(out, m)
	}
	s.mu.Unlock()
	sortMembers(out)
	return out
}

// observedMembers returns the nodes up as the membership gauge counts
// them.
func (s *Stage) observedMembers() []stage.Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]stage.Member, 0, len(s.members))
	for _, m := range s.members {
		out = append(out, stage.Member{Name: m.Name, Role: m.Role})
	}
	return out
}

// CloseInput says that no more Push calls will come; Run then sends the
// departure (participate mode) and returns.
func (s *Stage) CloseInput() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// Run subscribes to the own node-id topic (participate mode), expires half
// handshakes until CloseInput, then unsubscribes (participate mode). When
// ctx ends first it returns ctx's error without unsubscribing: the
// connection going away makes the broker synthesize the unsubscription.
func (s *Stage) Run(ctx context.Context) error {
	if s.mode == ModeParticipate {
		if err := s.subscribeOwn(ctx, true); err != nil {
			return err
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next, ok := s.expire()
		var tick <-chan time.Time
		if ok {
			timer.Reset(max(next, time.Millisecond))
			tick = timer.C
		}
		select {
		case <-s.closed:
			if s.mode == ModeParticipate {
				return s.subscribeOwn(ctx, false)
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
		case <-tick:
		}
	}
}

// subscribeOwn sends the subscription (or unsubscription) of the own
// node-id topic upstream.
func (s *Stage) subscribeOwn(ctx context.Context, subscribe bool) error {
	var b message.Batch
	b.Append(message.SubscriptionFrame(subscribe, []byte(zeekproto.NodeIDTopic(s.id))))
	if err := s.env.Upstream.Push(ctx, &b); err != nil {
		what := "subscribe to"
		if !subscribe {
			what = "unsubscribe from"
		}
		return fmt.Errorf("hello_tracker: %s own node-id topic: %w", what, err)
	}
	if subscribe {
		s.log.Info("hello_tracker subscribed to its node-id topic", "name", s.name, "id", s.id)
	}
	return nil
}

// effects collects what handling input produced, carried out after the
// state lock is released.
type effects struct {
	out     message.Batch
	zmq     int // ZeroMQ::hello messages in out
	clu     int // Cluster::hello messages in out
	changes []membershipChange
	logs    []logLine
	wake    bool
	stage   *Stage
}

type logLine struct {
	level slog.Level
	msg   string
	args  []any
}

func (fx *effects) logf(level slog.Level, msg string, args ...any) {
	fx.logs = append(fx.logs, logLine{level, msg, args})
}

// publish queues an event of the own node to topic.
func (fx *effects) publish(topic string, cluster bool) {
	payload := fx.stage.zmqHello
	if cluster {
		payload = fx.stage.clusterHello
		fx.clu++
	} else {
		fx.zmq++
	}
	fx.out.Append([]byte(topic), []byte(fx.stage.id), []byte(fx.stage.format), payload)
}

// membershipChange is a node up or down, for the membership topic.
type membershipChange struct {
	up bool
	m  Member
}

// apply carries out fx: logs, wakes Run, sends.
func (s *Stage) apply(ctx context.Context, fx *effects) error {
	for _, l := range fx.logs {
		s.log.Log(ctx, l.level, l.msg, l.args...)
	}
	s.appendMembershipEvents(ctx, fx)
	if fx.wake {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	if fx.out.Len() == 0 {
		return nil
	}
	if err := s.env.Out.Push(ctx, &fx.out); err != nil {
		return fmt.Errorf("hello_tracker: send hellos: %w", err)
	}
	s.counters.Sent(fx.out.Len())
	s.counts.zmqSent.Add(uint64(fx.zmq))
	s.counts.clusterSent.Add(uint64(fx.clu))
	return nil
}

// appendMembershipEvents encodes fx's membership changes as events on the
// membership topic and queues them after the hellos. A change that does
// not encode is reported, not sent: the membership itself is unharmed.
func (s *Stage) appendMembershipEvents(ctx context.Context, fx *effects) {
	if len(fx.changes) == 0 {
		return
	}
	docs := make([]zmsgpack.Document, len(fx.changes))
	for i, c := range fx.changes {
		name := NodeDownEvent
		if c.up {
			name = NodeUpEvent
		}
		docs[i] = zmsgpack.Document{Event: &value.Event{Name: name,
			Args: []value.Value{value.String(c.m.Name), value.String(c.m.ID), value.String(c.m.Role)}}}
	}
	sender := s.id
	if sender == "" {
		sender = observerSender
	}
	enc, err := s.env.Codecs.Encode(ctx, s.format, docs)
	if err != nil {
		s.limiter.Warn("cannot encode membership events; not sent", "format", s.format, "err", err.Error())
		return
	}
	for i, e := range enc {
		if e.Err != nil {
			s.limiter.Warn("cannot encode a membership event; not sent", "event", docs[i].Event.Name, "err", e.Err.Error())
			continue
		}
		fx.out.Append([]byte(s.membershipTopic), []byte(sender), []byte(s.format), e.Payload)
	}
}

// malformed counts and reports unusable input.
func (s *Stage) malformed(what string, args ...any) {
	s.counts.malformed.Add(1)
	s.limiter.Warn(what+"; ignored", args...)
}

// ObserveSubscriptions implements stage.SubscriptionObserver: 01/00
// zeek.cluster.nodeid.<id>. messages are node subscriptions and
// unsubscriptions; other subscriptions are not the tracker's concern.
func (s *Stage) ObserveSubscriptions(ctx context.Context, b *message.Batch) error {
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	fx := effects{stage: s}
	s.mu.Lock()
	now := s.now()
	for it := b.Iter(); it.Next(); {
		if it.NumFrames() != 1 {
			s.malformed("subscription message of more than one frame", "frames", it.NumFrames())
			continue
		}
		subscribe, prefix, ok := message.ParseSubscription(it.Frame(0))
		if !ok {
			continue // Zeek ignores these silently (docs/zeek-wire.md#messages)
		}
		id, isNode, err := nodeIDFromTopic(prefix)
		if !isNode {
			continue
		}
		if err != nil {
			s.malformed("node-id subscription with an unusable id", "topic", string(prefix), "err", err.Error())
			continue
		}
		if s.mode == ModeParticipate && id == s.id {
			continue // our own, echoed
		}
		if subscribe {
			s.onSubscription(id, string(prefix), now, &fx)
		} else {
			s.onUnsubscription(id, &fx)
		}
	}
	s.mu.Unlock()
	return s.apply(ctx, &fx)
}

// Push passes b on unchanged (unless forward is false) and follows the
// hellos in it.
func (s *Stage) Push(ctx context.Context, b *message.Batch) error {
	s.counters.Received(b.Len())
	events := s.decodeHellos(ctx, b)
	if s.forward && b.Len() > 0 {
		if err := s.env.Out.Push(ctx, b); err != nil {
			return err
		}
		s.counters.Sent(b.Len())
	}
	if len(events) == 0 {
		return nil
	}
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	fx := effects{stage: s}
	s.mu.Lock()
	now := s.now()
	for _, ev := range events {
		s.onHello(ev, now, &fx)
	}
	s.mu.Unlock()
	return s.apply(ctx, &fx)
}

// helloEvent is a hello decoded from the data path.
type helloEvent struct {
	cluster  bool // Cluster::hello, else ZeroMQ::hello
	name, id string
}

// decodeHellos decodes the candidates of b (node-id topic, four frames,
// the configured format, not sent by this node) and returns the hellos
// among them. Unusable ones are counted and reported.
func (s *Stage) decodeHellos(ctx context.Context, b *message.Batch) []helloEvent {
	var payloads [][]byte
	for it := b.Iter(); it.Next(); {
		if it.NumFrames() != 4 || !strings.HasPrefix(string(it.Frame(0)), zeekproto.NodeIDTopicPrefix) {
			continue
		}
		if s.mode == ModeParticipate && string(it.Frame(1)) == s.id {
			continue // self-filtering (docs/zeek-wire.md#messages)
		}
		if format := it.Frame(2); string(format) != s.format {
			s.counters.Undecoded(1)
			s.limiter.Warn("node-id topic message in a format other than the cluster's; not decoded", "format", string(format), "want", s.format)
			continue
		}
		payloads = append(payloads, it.Frame(3))
	}
	if len(payloads) == 0 {
		return nil
	}
	decoded, err := s.env.Codecs.Decode(ctx, s.format, payloads)
	if err != nil {
		s.counters.Undecoded(len(payloads))
		s.limiter.Warn("cannot decode node-id topic messages; membership may miss nodes", "format", s.format, "err", err.Error())
		return nil
	}
	var out []helloEvent
	for _, d := range decoded {
		switch {
		case d.Err != nil:
			s.malformed("node-id topic payload does not decode", "format", s.format, "err", d.Err.Error())
			continue
		case d.Event == nil:
			s.malformed("node-id topic payload is not an event", "format", s.format)
			continue
		case d.Event.Name != zeekproto.ZeroMQHelloEvent && d.Event.Name != zeekproto.ClusterHelloEvent:
			continue
		}
		s.counts.hellos.Add(1)
		ev := d.Event
		if len(ev.Args) != 2 || ev.Args[0].Kind() != value.KindString || ev.Args[1].Kind() != value.KindString {
			kinds := make([]string, len(ev.Args))
			for i, a := range ev.Args {
				kinds[i] = a.Kind().String()
			}
			s.malformed("hello without two string arguments", "event", ev.Name, "args", strings.Join(kinds, ","))
			continue
		}
		h := helloEvent{cluster: ev.Name == zeekproto.ClusterHelloEvent, name: ev.Args[0].Str(), id: ev.Args[1].Str()}
		if err := checkText("name", h.name); err != nil {
			s.malformed("hello with an unusable node name", "event", ev.Name, "err", err.Error())
			continue
		}
		if err := checkText("node id", h.id); err != nil {
			s.malformed("hello with an unusable node id", "event", ev.Name, "err", err.Error())
			continue
		}
		out = append(out, h)
	}
	return out
}

var (
	_ stage.Stage                = (*Stage)(nil)
	_ stage.SubscriptionObserver = (*Stage)(nil)
)
