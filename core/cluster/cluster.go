// Package cluster talks to a Zeek cluster's ZeroMQ broker as a quiet
// participant: it reads events (tail), publishes one (publish) and lists
// the live nodes (nodes), through a transport plugin and the codecs, never
// linking a ZeroMQ library itself. It never subscribes to a node-id topic,
// so Zeek's nodes do not see it (docs/zeek-wire.md#staying-invisible).
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/codec/zmsgpack"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/core/zeekproto"
)

// Zeek's defaults (docs/zeek-wire.md#sockets-and-endpoints).
const (
	DefaultBrokerXPub = "tcp://127.0.0.1:5555" // nodes' XSUB connect here
	DefaultBrokerXSub = "tcp://127.0.0.1:5556" // nodes' XPUB connect here
	DefaultFormat     = zeekproto.FormatBrokerBin
)

// Config says where the broker is and how to talk to it.
type Config struct {
	// BrokerXPub is the broker's XPUB endpoint (where nodes' XSUB sockets
	// connect); BrokerXSub its XSUB endpoint.
	BrokerXPub, BrokerXSub string
	// Format is the cluster's event format (frame 2).
	Format string
	// NodeID is frame 1 of what this client publishes; generated when
	// empty.
	NodeID string
	Logger *slog.Logger
}

// Client is a connection-less handle on a cluster: each operation opens
// the sockets it needs on the transport and closes them when it ends.
type Client struct {
	tr     transport.Client
	codecs *registry.Registry
	cfg    Config
	seq    atomic.Uint64
}

// New returns a client using transport tr and codecs.
func New(tr transport.Client, codecs *registry.Registry, cfg Config) (*Client, error) {
	if cfg.BrokerXPub == "" {
		cfg.BrokerXPub = DefaultBrokerXPub
	}
	if cfg.BrokerXSub == "" {
		cfg.BrokerXSub = DefaultBrokerXSub
	}
	if cfg.Format == "" {
		cfg.Format = DefaultFormat
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NodeID == "" {
		id, err := NewNodeID("zpipe")
		if err != nil {
			return nil, err
		}
		cfg.NodeID = id
	}
	return &Client{tr: tr, codecs: codecs, cfg: cfg}, nil
}

// NodeID returns the id this client publishes as.
func (c *Client) NodeID() string { return c.cfg.NodeID }

// NewNodeID returns an id shaped like Zeek's (docs/zeek-wire.md#node-ids):
// zeromq_<name>_<hostname>_<pid>_N<random base62>.
func NewNodeID(name string) (string, error) {
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var sb strings.Builder
	for range 16 {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", fmt.Errorf("node id: %w", err)
		}
		sb.WriteByte(alphabet[n.Int64()])
	}
	return zeekproto.NodeID{Name: name, Host: host, PID: strconv.Itoa(os.Getpid()), Unique: "N" + sb.String()}.String(), nil
}

// session is the sockets one operation opened.
type session struct {
	c      *Client
	opened []string
}

func (c *Client) session() *session { return &session{c: c} }

func (s *session) open(ctx context.Context, kind, endpoint string, extra map[string]any) (string, error) {
	id := fmt.Sprintf("cluster/%s-%d", kind, s.c.seq.Add(1))
	cfg := map[string]any{"connect": []string{endpoint}}
	for k, v := range extra {
		cfg[k] = v
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	if err := s.c.tr.Open(ctx, transport.SocketSpec{ID: id, Kind: kind, Config: raw}); err != nil {
		return "", fmt.Errorf("open %s to %s: %w", kind, endpoint, err)
	}
	s.opened = append(s.opened, id)
	return id, nil
}

// close closes the session's sockets, waiting up to their linger.
func (s *session) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for i := len(s.opened) - 1; i >= 0; i-- {
		if err := s.c.tr.Close(ctx, s.opened[i]); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", s.opened[i], err))
		}
	}
	return errors.Join(errs...)
}

// send sends the given messages on socket id.
func (s *session) send(ctx context.Context, id string, msgs ...[][]byte) error {
	snd, err := s.c.tr.Sender(ctx, id, transport.SendOptions{Window: 1})
	if err != nil {
		return err
	}
	var b message.Batch
	for _, m := range msgs {
		b.Append(m...)
	}
	if err := snd.Send(ctx, &b); err != nil {
		_ = snd.Close()
		return err
	}
	return snd.Close()
}

// Tail subscribes to topics (every topic when none is given) and calls fn
// with every message received, decoded, until ctx ends or fn fails.
func (c *Client) Tail(ctx context.Context, topics []string, fn func(registry.Message) error) (err error) {
	s := c.session()
	defer func() { err = errors.Join(err, s.close()) }()
	in, err := s.open(ctx, "xsub", c.cfg.BrokerXPub, map[string]any{"framing": "raw"})
	if err != nil {
		return err
	}
	if len(topics) == 0 {
		topics = []string{""}
	}
	var subs [][][]byte
	for _, t := range topics {
		subs = append(subs, [][]byte{message.SubscriptionFrame(true, []byte(t))})
	}
	if err := s.send(ctx, in, subs...); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	err = c.tr.Receive(ctx, in, transport.ReceiveOptions{Limits: transport.Limits{MaxMessages: 256}, Window: 2}, func(b *message.Batch) error {
		msgs, err := c.codecs.DecodeMessages(ctx, b, registry.PassUndecoded)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := fn(m); err != nil {
				return err
			}
		}
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// errProbeSeen ends the receive loop of a probe.
var errProbeSeen = errors.New("probe seen")

// subscriptions opens an XPUB towards the broker and returns every
// subscription prefix the cluster holds: the broker replays them to a new
// peer, and once this client's own probe subscription comes back, every
// older one has arrived (docs/zeek-wire.md#ready-probe). It returns the
// session (for sending on the XPUB) and the XPUB's id.
func (c *Client) subscriptions(ctx context.Context, s *session) (xpub string, prefixes []string, err error) {
	xpub, err = s.open(ctx, "xpub", c.cfg.BrokerXSub, map[string]any{"verbose": true})
	if err != nil {
		return "", nil, err
	}
	xsub, err := s.open(ctx, "xsub", c.cfg.BrokerXPub, nil)
	if err != nil {
		return "", nil, err
	}
	probe := zeekproto.ProbeTopic(c.cfg.NodeID, c.seq.Add(1))
	if err := s.send(ctx, xsub, [][]byte{message.SubscriptionFrame(true, []byte(probe))}); err != nil {
		return "", nil, fmt.Errorf("probe subscription: %w", err)
	}
	held := map[string]int{}
	err = c.tr.Receive(ctx, xpub, transport.ReceiveOptions{Limits: transport.Limits{MaxMessages: 1024}, Window: 2}, func(b *message.Batch) error {
		for it := b.Iter(); it.Next(); {
			if it.NumFrames() != 1 {
				continue
			}
			sub, prefix, ok := message.ParseSubscription(it.Frame(0))
			if !ok {
				continue
			}
			p := string(prefix)
			if p == probe && sub {
				return errProbeSeen
			}
			if sub {
				held[p]++
			} else if held[p]--; held[p] <= 0 {
				delete(held, p)
			}
		}
		return nil
	})
	if !errors.Is(err, errProbeSeen) {
		if err == nil || ctx.Err() != nil {
			err = fmt.Errorf("no answer from the broker at %s / %s (is it running?): %w", c.cfg.BrokerXPub, c.cfg.BrokerXSub, ctx.Err())
		}
		return "", nil, err
	}
	if err := s.send(ctx, xsub, [][]byte{message.SubscriptionFrame(false, []byte(probe))}); err != nil {
		return "", nil, fmt.Errorf("probe unsubscription: %w", err)
	}
	for p := range held {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	return xpub, prefixes, nil
}

// Publish sends ev on topic in the cluster's format once the broker has
// told this client every subscription it holds. It reports whether any
// subscriber's prefix matches the topic; when none does, nothing is sent
// (ZeroMQ would drop it anyway, docs/zeek-wire.md#staying-invisible).
func (c *Client) Publish(ctx context.Context, topic string, ev *value.Event) (delivered bool, err error) {
	enc, err := c.codecs.Encode(ctx, c.cfg.Format, []zmsgpack.Document{{Event: ev}})
	if err != nil {
		return false, fmt.Errorf("encode %s: %w", ev.Name, err)
	}
	if enc[0].Err != nil {
		return false, fmt.Errorf("encode %s as %s: %w", ev.Name, c.cfg.Format, enc[0].Err)
	}
	s := c.session()
	defer func() { err = errors.Join(err, s.close()) }()
	xpub, prefixes, err := c.subscriptions(ctx, s)
	if err != nil {
		return false, err
	}
	for _, p := range prefixes {
		if strings.HasPrefix(topic, p) {
			delivered = true
		}
	}
	if !delivered {
		return false, nil
	}
	msg := [][]byte{[]byte(topic), []byte(c.cfg.NodeID), []byte(c.cfg.Format), enc[0].Payload}
	if err := s.send(ctx, xpub, msg); err != nil {
		return false, fmt.Errorf("publish: %w", err)
	}
	return true, nil
}

// Node is a cluster node seen through its node-id subscription.
type Node struct {
	// ID is the node's id; Name and Role are read from it (Zeek's ids are
	// zeromq_<name>_<host>_<pid>_<suffix>; a name holding "_" cannot be
	// told apart from the host, so the first field is taken).
	ID, Name, Host, Role string
}

// Nodes returns the nodes whose node-id subscription the broker holds.
func (c *Client) Nodes(ctx context.Context) (nodes []Node, err error) {
	s := c.session()
	defer func() { err = errors.Join(err, s.close()) }()
	_, prefixes, err := c.subscriptions(ctx, s)
	if err != nil {
		return nil, err
	}
	for _, p := range prefixes {
		if id, ok := zeekproto.NodeIDFromTopic(p); ok {
			nodes = append(nodes, ParseNodeID(id))
		}
	}
	sort.Slice(nodes, func(i, j int) bool {
		return nodes[i].Name < nodes[j].Name || (nodes[i].Name == nodes[j].Name && nodes[i].ID < nodes[j].ID)
	})
	return nodes, nil
}

// ParseNodeID reads name and host out of a Zeek node id, as far as its
// shape allows, and the role from the name.
func ParseNodeID(id string) Node {
	n := Node{ID: id}
	if p, ok := zeekproto.ParseNodeID(id); ok {
		n.Name, n.Host = p.Name, p.Host
	}
	n.Role = RoleOf(n.Name)
	return n
}

// RoleOf derives a node's role from Zeek's default node names: manager,
// logger-N, proxy-N, worker-N. It is stricter than zeekproto.RoleOf, which
// the hello tracker's metrics use: a name such as "workers" is unknown
// here.
func RoleOf(name string) string {
	for _, r := range []string{zeekproto.RoleManager, zeekproto.RoleLogger, zeekproto.RoleProxy, zeekproto.RoleWorker} {
		if name == r || strings.HasPrefix(name, r+"-") {
			return r
		}
	}
	return zeekproto.RoleUnknown
}
