// Package brokerbin decodes and encodes broker-bin-v1, the default payload
// format of Zeek's events on the ZeroMQ cluster backend: one Broker value
// in Broker's binary format v1 (a tag byte, then the payload; big-endian
// integers; varbyte lengths and counts).
//
// An event is vector(3)[count 1 (protocol version), count 1 (message type
// event), vector[string name, vector args, optional vector metadata]],
// where each metadata entry is vector[count id, value].
//
// # Exactness
//
// Everything Zeek writes decodes and re-encodes to the same bytes: sets and
// tables keep the order they were read in (Zeek writes Broker's order, see
// value.Compare), reals use CAF's packing (NaN, +Inf and -Inf have their own
// non-IEEE patterns; subnormal numbers are packed and unpacked as CAF does,
// which does not preserve them), and IPv4 subnets carry 96 plus their
// prefix length. Input that Zeek would not write but accepts is decoded and
// re-encoded in Zeek's form instead: a boolean byte other than 00/01, a
// varbyte longer than needed, an empty metadata vector (dropped), a subnet
// with host bits set (masked, as Broker does), and a real whose bit pattern
// CAF does not produce (IEEE NaN and infinities read as infinities, as in
// Zeek).
//
// # Errors
//
// Malformed input yields a *codec.DecodeError naming the byte offset and
// what was expected, e.g. "brokerbin: offset 17: want vector tag 0x0e,
// have 0x05 (string)". Like Zeek, the decoder rejects unknown tags, port
// protocols above 3, subnet lengths above 128, duplicate set elements and
// table keys, and trailing bytes; it also rejects varbytes longer than 5
// bytes or above 2³²-1 and nesting deeper than MaxDepth. Counts are checked
// against the bytes left before anything is allocated for them.
package brokerbin
