package zeektest

import (
	"strings"

	"github.com/zpipe/zpipe/core/zeekproto"
)

// Topics and frame constants of Zeek's ZeroMQ cluster backend, those of
// package zeekproto under this package's names.
const (
	// NodeIDTopicPrefix starts every node-id topic: zeek.cluster.nodeid.<id>.
	NodeIDTopicPrefix = zeekproto.NodeIDTopicPrefix
	// NodeTopicPrefix starts every node topic: zeek.cluster.node.<name>.
	NodeTopicPrefix = zeekproto.NodeTopicPrefix
	// InternalTopicPrefix starts the topics of the ready-to-publish probe.
	InternalTopicPrefix = zeekproto.InternalTopicPrefix
	// SupervisorTopic is subscribed first by every node.
	SupervisorTopic = zeekproto.SupervisorTopic
	// TableTopic is the publish-on-change topic every node subscribes to.
	TableTopic = zeekproto.TableTopic

	// FormatBrokerBinV1 is frame 2 of an event in Broker's binary format.
	FormatBrokerBinV1 = zeekproto.FormatBrokerBin
	// FormatZeekBinSerializer is frame 2 of a log-write message.
	FormatZeekBinSerializer = zeekproto.FormatZeekLog
	// LogWriteTopic is frame 0 of a log-write message.
	LogWriteTopic = zeekproto.LogWriteTopic

	// ZeroMQHelloEvent answers a node-id subscription ("I exist").
	ZeroMQHelloEvent = zeekproto.ZeroMQHelloEvent
	// ClusterHelloEvent completes the handshake; its receiver raises node_up.
	ClusterHelloEvent = zeekproto.ClusterHelloEvent
)

// NodeIDTopic returns the node-id topic of the node with the given id.
func NodeIDTopic(id string) string { return zeekproto.NodeIDTopic(id) }

// NodeTopic returns the topic of the node called name.
func NodeTopic(name string) string { return zeekproto.NodeTopic(name) }

// RoleTopic returns the node-type topic of a role: manager, logger, proxy or
// worker.
func RoleTopic(role string) string { return zeekproto.RoleTopic(role) }

// PoolTopic returns the topic of a pool: logger, proxy or worker.
func PoolTopic(pool string) string { return zeekproto.PoolTopic(pool) }

// NodeIDFromTopic returns the node id carried by a node-id topic, and false
// if topic is not one. As Zeek's script does, it only strips the prefix
// and a trailing dot, so it is laxer than zeekproto.NodeIDFromTopic: the
// bare prefix gives an empty id, a prefix without the dot the rest.
func NodeIDFromTopic(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, NodeIDTopicPrefix)
	if !ok {
		return "", false
	}
	return strings.TrimSuffix(rest, "."), true
}

// NewNodeID returns a node id the way Zeek builds it (zeekproto.NewNodeID):
// zeromq_<name>_<host>_<pid>_N<random base62>. An empty host means this
// machine's host name; pid 0 means this process.
func NewNodeID(name, host string, pid int) (string, error) {
	return zeekproto.NewNodeID(name, host, pid)
}
