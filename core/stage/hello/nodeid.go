package hello

import (
	"fmt"
	"unicode/utf8"

	"github.com/zpipe/zpipe/core/zeekproto"
)

// maxIDLen bounds node ids and names; Zeek's are well below (a WebSocket
// client's id, the longest kind, is the hosting node's id plus a suffix).
const maxIDLen = 1024

// nodeIDFromTopic returns the node id a node-id topic carries. isNodeID is
// false for topics that are not node-id topics at all (other prefixes, a
// subscription to the bare prefix, which is a wildcard and not a node, or
// a prefix without the trailing dot, which covers several ids). A topic
// that has the prefix and the trailing dot but whose id is not usable
// (empty, control characters, invalid UTF-8, too long) gives isNodeID
// true and a non-nil err.
func nodeIDFromTopic(topic []byte) (id string, isNodeID bool, err error) {
	id, ok := zeekproto.NodeIDFromTopic(string(topic))
	if !ok {
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
