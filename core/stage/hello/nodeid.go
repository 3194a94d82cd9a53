package hello

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"strings"
	"unicode/utf8"
)

// Topics and event names of Zeek's hello protocol
// (docs/zeek-wire.md#hello-protocol).
const (
	// NodeIDTopicPrefix starts every node-id topic:
	// zeek.cluster.nodeid.<id>. (with the trailing dot).
	NodeIDTopicPrefix = "zeek.cluster.nodeid."
	// ZeroMQHelloEvent answers a node-id subscription ("I exist"); its
	// arguments are the sender's name and node id.
	ZeroMQHelloEvent = "Cluster::Backend::ZeroMQ::hello"
	// ClusterHelloEvent completes the handshake; same arguments.
	ClusterHelloEvent = "Cluster::hello"
)

// Roles a node can have, derived from its name by RoleOf.
const (
	RoleManager = "manager"
	RoleLogger  = "logger"
	RoleProxy   = "proxy"
	RoleWorker  = "worker"
	RoleUnknown = "unknown"
)

// maxIDLen bounds node ids and names; Zeek's are well below (a WebSocket
// client's id, the longest kind, is the hosting node's id plus a suffix).
const maxIDLen = 1024

// NodeIDTopic returns the node-id topic of the node with the given id.
func NodeIDTopic(id string) string { return NodeIDTopicPrefix + id + "." }

// nodeIDFromTopic returns the node id a node-id topic carries. isNodeID is
// false for topics that are not node-id topics at all (other prefixes, or
// a subscription to the bare prefix, which is a wildcard and not a node).
// A topic that has the prefix and the trailing dot but whose id is not
// usable (empty, control characters, invalid UTF-8, too long) gives
// isNodeID true and a non-nil err.
func nodeIDFromTopic(topic []byte) (id string, isNodeID bool, err error) {
	rest, ok := strings.CutPrefix(string(topic), NodeIDTopicPrefix)
	if !ok || rest == "" {
		return "", false, nil
	}
	id, ok = strings.CutSuffix(rest, ".")
	if !ok {
		// zeek.cluster.nodeid.abc (no trailing dot): a prefix
		// subscription covering several ids, not one node.
		return "", false, nil
	}
	if err := checkText("node id", id); err != nil {
		return "", true, err
	}
	return id, true, nil
}

// checkText accepts what can be a node name or a node id: non-empty,
// valid UTF-8, no control characters, at most maxIDLen bytes. Everything
// else (including '-', '.', '_') is allowed, as ids are opaque
// (docs/zeek-wire.md#node-ids).
func checkText(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s", what)
	case len(s) > maxIDLen:
		return fmt.Errorf("%s of %d bytes (at most %d)", what, len(s), maxIDLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s %q is not valid UTF-8", what, s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%s %q holds a control character", what, s)
		}
	}
	return nil
}

// RoleOf derives a node's role from its name, by prefix: names starting
// with "manager", "logger", "proxy" or "worker" (Zeek's default node
// names are manager, logger-1, proxy-1, worker-1, …) have that role;
// every other name is RoleUnknown. The hello protocol does not carry the
// node type, so the name is all there is.
func RoleOf(name string) string {
	for _, r := range []string{RoleManager, RoleLogger, RoleProxy, RoleWorker} {
		if strings.HasPrefix(name, r) {
			return r
		}
	}
	return RoleUnknown
}

// NewNodeID returns a node id shaped like Zeek's (docs/zeek-wire.md#node-ids):
// zeromq_<name>_<host>_<pid>_N<random base62>, the random part from 96
// random bits as Zeek's unique_id with bits_per_uid = 96. An empty host
// means this machine's host name; pid 0 means this process.
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
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 96))
	if err != nil {
		return "", fmt.Errorf("node id: random suffix: %w", err)
	}
	return fmt.Sprintf("zeromq_%s_%s_%d_N%s", name, host, pid, n.Text(62)), nil
}
