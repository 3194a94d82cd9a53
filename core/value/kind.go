package value

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is the type of a Value. The order of the kinds up to KindVector is
// Broker's type-tag order, which Compare uses to order values of different
// kinds.
type Kind uint8

// The kinds of Zeek values.
const (
	KindNone     Kind = iota // no value; in log records and records: unset
	KindBool                 // Zeek bool
	KindCount                // Zeek count: uint64
	KindInt                  // Zeek int: int64
	KindReal                 // Zeek double: float64
	KindString               // Zeek string: bytes, not necessarily UTF-8
	KindAddr                 // Zeek addr: IPv4 or IPv6 address
	KindSubnet               // Zeek subnet: address prefix
	KindPort                 // Zeek port: number and transport protocol
	KindTime                 // Zeek time: nanoseconds (or float seconds) since the epoch
	KindInterval             // Zeek interval: nanoseconds (or float seconds)
	KindEnum                 // Zeek enum: the value's name
	KindSet                  // Zeek set: elements
	KindTable                // Zeek table: ordered key/value pairs
	KindVector               // Zeek vector, and Broker's list
	KindRecord               // Zeek record: named fields, possibly unset
)

var kindNames = [...]string{
	KindNone:     "none",
	KindBool:     "bool",
	KindCount:    "count",
	KindInt:      "int",
	KindReal:     "real",
	KindString:   "string",
	KindAddr:     "addr",
	KindSubnet:   "subnet",
	KindPort:     "port",
	KindTime:     "time",
	KindInterval: "interval",
	KindEnum:     "enum",
	KindSet:      "set",
	KindTable:    "table",
	KindVector:   "vector",
	KindRecord:   "record",
}

// String returns the kind's name as used in the typed JSON form ("count",
// "addr", …).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind returns the kind called name (as returned by Kind.String).
func ParseKind(name string) (Kind, error) {
	for k, n := range kindNames {
		if n == name {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("unknown value type %q", name)
}

// Proto is the transport protocol of a port.
type Proto uint8

// Transport protocols, numbered as on the wire in both Broker's and Zeek's
// binary formats.
const (
	ProtoUnknown Proto = 0
	ProtoTCP     Proto = 1
	ProtoUDP     Proto = 2
	ProtoICMP    Proto = 3
)

// String returns "tcp", "udp", "icmp" or "unknown".
func (p Proto) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP:
		return "icmp"
	case ProtoUnknown:
		return "unknown"
	}
	return "proto(" + strconv.Itoa(int(p)) + ")"
}

// Port is a Zeek port: a number and a transport protocol.
type Port struct {
	Num   uint16
	Proto Proto
}

// String returns the port as "443/tcp".
func (p Port) String() string {
	return strconv.Itoa(int(p.Num)) + "/" + p.Proto.String()
}

// ParsePort parses "443/tcp", "53/udp", "8/icmp" or "0/unknown".
func ParsePort(s string) (Port, error) {
	num, proto, ok := strings.Cut(s, "/")
	if !ok {
		return Port{}, fmt.Errorf("port %q: want <number>/<protocol>", s)
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil {
		return Port{}, fmt.Errorf("port %q: number: %w", s, err)
	}
	p := Port{Num: uint16(n)}
	switch proto {
	case "tcp":
		p.Proto = ProtoTCP
	case "udp":
		p.Proto = ProtoUDP
	case "icmp":
		p.Proto = ProtoICMP
	case "unknown":
		p.Proto = ProtoUnknown
	default:
		return Port{}, fmt.Errorf("port %q: unknown protocol %q (want tcp, udp, icmp or unknown)", s, proto)
	}
	return p, nil
}
