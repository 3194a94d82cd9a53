package puretransport

import (
	"bytes"
	"unicode/utf8"

	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/core/zeekproto"
	"github.com/zpipe/zpipe/plugins/transport-purego/puresock"
)

// maxNodeIDLen bounds the node ids taken from subscriptions, as the hello
// tracker bounds them.
const maxNodeIDLen = 1024

// zeekNodeID names an xpub subscriber by the Zeek node id of its node-id
// subscription, zeek.cluster.nodeid.<id>. (every Zeek node subscribes to
// its own). Prefixes of other shapes, and ids that are empty, too long,
// not UTF-8 or hold control characters, name nobody.
func zeekNodeID(prefix []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(prefix, []byte(zeekproto.NodeIDTopicPrefix))
	if !ok {
		return "", false
	}
	id, ok := bytes.CutSuffix(rest, []byte("."))
	if !ok || len(id) == 0 || len(id) > maxNodeIDLen || !utf8.Valid(id) {
		return "", false
	}
	for _, r := range string(id) {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", false
		}
	}
	return string(id), true
}

// peerStats translates the socket layer's per-peer counters. The counts
// are exact: the transport owns the peers' queues.
func peerStats(peers []puresock.PeerStats) []transport.PeerStats {
	if len(peers) == 0 {
		return nil
	}
	out := make([]transport.PeerStats, len(peers))
	for i, p := range peers {
		out[i] = transport.PeerStats{
			Address: p.Address, NodeID: p.Label,
			Dropped: p.Missed, DroppedExact: true,
			Stalled: p.Stalled, Stalls: p.Stalls,
		}
	}
	return out
}
