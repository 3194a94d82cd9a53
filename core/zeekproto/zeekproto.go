// Package zeekproto holds the names of Zeek's ZeroMQ cluster protocol that
// zpipe relies on: topics and topic prefixes, the hello events, the format
// names of frame 2, node roles and the shape of node ids, with the small
// helpers that build and read them. Each name cites the section of
// docs/zeek-wire.md that describes it.
//
// It is a package of its own, below everything that speaks the protocol
// (the hello tracker, the cluster client, the codecs, the transports and
// the test emulator of a Zeek node), so that each of them uses the same
// names without depending on another: package cluster is a client of a
// running cluster, not a place for names every layer needs. It imports
// nothing of zpipe.
package zeekproto

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"strings"
)

// Topics and topic prefixes (docs/zeek-wire.md#topics). Node and node-id
// topics end in a dot; role and pool topics do not.
const (
	// NodeIDTopicPrefix starts every node-id topic:
	// zeek.cluster.nodeid.<id>. (with the trailing dot).
	NodeIDTopicPrefix = "zeek.cluster.nodeid."
	// NodeTopicPrefix starts every node topic: zeek.cluster.node.<name>.
	NodeTopicPrefix = "zeek.cluster.node."
	// RoleTopicPrefix starts the node-type topics: zeek.cluster.<role>.
	RoleTopicPrefix = "zeek.cluster."
	// PoolTopicPrefix starts the pool topics: zeek.cluster.pool.<pool>.
	PoolTopicPrefix = "zeek.cluster.pool."
	// InternalTopicPrefix starts the topics of the ready-to-publish probe:
	// zeek.zeromq.internal.<id>.<n>. (docs/zeek-wire.md#ready-probe).
	InternalTopicPrefix = "zeek.zeromq.internal."
	// SupervisorTopic is the first topic every node subscribes to.
	SupervisorTopic = "zeek/supervisor"
	// TableTopic is the publish-on-change topic every node subscribes to.
	TableTopic = "zeek/table/"
	// LogWriteTopic is frame 0 of every log batch
	// (docs/zeek-wire.md#messages).
	LogWriteTopic = "log-write"
)

// Format names of frame 2 (docs/zeek-wire.md#messages).
const (
	// FormatBrokerBin is Broker's binary event format, Zeek's default
	// (docs/zeek-wire.md#broker-bin-v1-events).
	FormatBrokerBin = "broker-bin-v1"
	// FormatBrokerJSON is Broker's JSON event format
	// (docs/zeek-wire.md#broker-json-v1-events).
	FormatBrokerJSON = "broker-json-v1"
	// FormatZeekLog is the format of log batches
	// (docs/zeek-wire.md#log-batches); Zeek's script-level setting calls
	// it ZEEK_BIN_V1.
	FormatZeekLog = "zeek-bin-serializer"
)

// Events of the hello protocol (docs/zeek-wire.md#hello-protocol). Both
// carry the sender's name and node id and go to the receiver's node-id
// topic.
const (
	// ZeroMQHelloEvent answers a node-id subscription ("I exist").
	ZeroMQHelloEvent = "Cluster::Backend::ZeroMQ::hello"
	// ClusterHelloEvent completes the handshake; its receiver raises
	// Cluster::node_up.
	ClusterHelloEvent = "Cluster::hello"
)

// NodeIDTopic returns the node-id topic of the node with the given id
// (docs/zeek-wire.md#topics).
func NodeIDTopic(id string) string { return NodeIDTopicPrefix + id + "." }

// NodeIDFromTopic returns the node id a node-id topic carries
// (docs/zeek-wire.md#topics). ok is false for topics that are not the
// node-id topic of one node: other prefixes, the bare prefix (a wildcard)
// and a prefix without the trailing dot (which covers several ids). The id
// is returned as it is, unchecked: it may be empty
// ("zeek.cluster.nodeid..").
func NodeIDFromTopic(topic string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(topic, NodeIDTopicPrefix)
	if !ok || rest == "" {
		return "", false
	}
	id, ok = strings.CutSuffix(rest, ".")
	if !ok {
		return "", false
	}
	return id, true
}

// NodeTopic returns the topic of the node called name
// (docs/zeek-wire.md#topics).
func NodeTopic(name string) string { return NodeTopicPrefix + name + "." }

// RoleTopic returns the node-type topic of a role: manager, logger, proxy
// or worker (docs/zeek-wire.md#topics).
func RoleTopic(role string) string { return RoleTopicPrefix + role }

// PoolTopic returns the topic of a pool: logger, proxy or worker
// (docs/zeek-wire.md#topics).
func PoolTopic(pool string) string { return PoolTopicPrefix + pool }

// ProbeTopic returns the n-th ready-probe topic of the node with the
// given id: zeek.zeromq.internal.<id>.<n>. (docs/zeek-wire.md#ready-probe).
func ProbeTopic(id string, n uint64) string {
	return InternalTopicPrefix + id + "." + strconv.FormatUint(n, 10) + "."
}

// Roles a node can have (docs/zeek-wire.md#hello-protocol), derived from
// its name by RoleOf.
const (
	RoleManager = "manager"
	RoleLogger  = "logger"
	RoleProxy   = "proxy"
	RoleWorker  = "worker"
	RoleUnknown = "unknown"
)

// roles are the known roles, in the order RoleOf tries them.
var roles = [...]string{RoleManager, RoleLogger, RoleProxy, RoleWorker}

// RoleOf derives a node's role from its name, by prefix: names starting
// with "manager", "logger", "proxy" or "worker" (Zeek's default node names
// are manager, logger-1, proxy-1, worker-1, …) have that role; every other
// name is RoleUnknown. The hello protocol does not carry the node type, so
// the name is all there is (docs/zeek-wire.md#node-ids).
func RoleOf(name string) string {
	for _, r := range roles {
		if strings.HasPrefix(name, r) {
			return r
		}
	}
	return RoleUnknown
}

// NodeIDPrefix is the first field of every node id Zeek's ZeroMQ backend
// makes (docs/zeek-wire.md#node-ids).
const NodeIDPrefix = "zeromq"

// NodeID is a node id taken apart (docs/zeek-wire.md#node-ids):
// zeromq_<Name>_<Host>_<PID>_<Unique>.
type NodeID struct {
	// Name is the node's name (Cluster::node).
	Name string
	// Host is the host name of the node's machine.
	Host string
	// PID is the node's process id, as written in the id.
	PID string
	// Unique is the random part, with its leading "N".
	Unique string
}

// String returns the node id n stands for.
func (n NodeID) String() string {
	return NodeIDPrefix + "_" + n.Name + "_" + n.Host + "_" + n.PID + "_" + n.Unique
}

// ParseNodeID takes a node id of Zeek's shape apart
// (docs/zeek-wire.md#node-ids). Ids are opaque to receivers, so this is
// for display only: a name holding "_" cannot be told apart from the host,
// so the name is taken up to the first "_" and the host up to the last two
// fields. ok is false for an id of another shape (fewer than five fields
// or another first field).
func ParseNodeID(id string) (n NodeID, ok bool) {
	parts := strings.Split(id, "_")
	if len(parts) < 5 || parts[0] != NodeIDPrefix {
		return NodeID{}, false
	}
	return NodeID{
		Name:   parts[1],
		Host:   strings.Join(parts[2:len(parts)-2], "_"),
		PID:    parts[len(parts)-2],
		Unique: parts[len(parts)-1],
	}, true
}

// NewNodeID returns a node id shaped like Zeek's
// (docs/zeek-wire.md#node-ids): zeromq_<name>_<host>_<pid>_N<random
// base62>, the random part from 96 random bits as Zeek's unique_id with
// bits_per_uid = 96. An empty host means this machine's host name; pid 0
// means this process.
func NewNodeID(name, host string, pid int) (string, error) {
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("node id: host name: %w", err)
		}
		host = h
	}
	if pid == 0 {
		pid = os.Getpid()
	}
	r, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 96))
	if err != nil {
		return "", fmt.Errorf("node id: random suffix: %w", err)
	}
	return NodeID{Name: name, Host: host, PID: strconv.Itoa(pid), Unique: "N" + r.Text(62)}.String(), nil
}
