package zeektest

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"strings"
)

// Topics and frame constants of Zeek's ZeroMQ cluster backend.
const (
	// NodeIDTopicPrefix starts every node-id topic: zeek.cluster.nodeid.<id>.
	NodeIDTopicPrefix = "zeek.cluster.nodeid."
	// NodeTopicPrefix starts every node topic: zeek.cluster.node.<name>.
	NodeTopicPrefix = "zeek.cluster.node."
	// InternalTopicPrefix starts the topics of the ready-to-publish probe.
	InternalTopicPrefix = "zeek.zeromq.internal."
	// SupervisorTopic is subscribed first by every node.
	SupervisorTopic = "zeek/supervisor"
	// TableTopic is the publish-on-change topic every node subscribes to.
	TableTopic = "zeek/table/"

	// FormatBrokerBinV1 is frame 2 of an event in Broker's binary format.
	FormatBrokerBinV1 = "broker-bin-v1"
	// FormatZeekBinSerializer is frame 2 of a log-write message.
	FormatZeekBinSerializer = "zeek-bin-serializer"
	// LogWriteTopic is frame 0 of a log-write message.
	LogWriteTopic = "log-write"

	// ZeroMQHelloEvent answers a node-id subscription ("I exist").
	ZeroMQHelloEvent = "Cluster::Backend::ZeroMQ::hello"
	// ClusterHelloEvent completes the handshake; its receiver raises node_up.
	ClusterHelloEvent = "Cluster::hello"
)

// NodeIDTopic returns the node-id topic of the node with the given id.
func NodeIDTopic(id string) string { return NodeIDTopicPrefix + id + "." }

// NodeTopic returns the topic of the node called name.
func NodeTopic(name string) string { return NodeTopicPrefix + name + "." }

// RoleTopic returns the node-type topic of a role: manager, logger, proxy or
// worker.
func RoleTopic(role string) string { return "zeek.cluster." + role }

// PoolTopic returns the topic of a pool: logger, proxy or worker.
func PoolTopic(pool string) string { return "zeek.cluster.pool." + pool }

// NodeIDFromTopic returns the node id carried by a node-id topic, and false
// if topic is not one.
func NodeIDFromTopic(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, NodeIDTopicPrefix)
	if !ok {
		return "", false
	}
	return strings.TrimSuffix(rest, "."), true
}

// NewNodeID returns a node id the way Zeek builds it:
// zeromq_<name>_<host>_<pid>_N<random base62>. An empty host means this
// machine's host name; pid 0 means this process.
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
	// Zeek's unique_id uses bits_per_uid = 96 random bits, printed in base 62.
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 96))
	if err != nil {
		return "", fmt.Errorf("node id: random suffix: %w", err)
	}
	return fmt.Sprintf("zeromq_%s_%s_%d_N%s", name, host, pid, n.Text(62)), nil
}
