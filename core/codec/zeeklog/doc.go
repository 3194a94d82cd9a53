// Package zeeklog decodes and encodes zeek-bin-serializer, the format of
// Zeek's log batches on the ZeroMQ cluster backend (frame 3 of a log-write
// message; the script-level name is Cluster::LOG_SERIALIZER_ZEEK_BIN_V1).
//
// A batch is the stream, writer, filter and path names, the field
// descriptors (name, type, subtype, optional), and the records, each one
// value per field. Every value carries its own type, subtype and present
// flag; an unset value (present = 00) decodes as value.None. Times and
// intervals are float64 seconds and decode in the value package's seconds
// form, so they re-encode exactly; IPv4 subnets carry 96 plus their prefix
// length.
//
// # Exactness
//
// Everything Zeek writes decodes and re-encodes to the same bytes,
// including Zeek's own unit-test batch, whose values carry subtype 22: the
// subtype found in a column's first value header is kept in
// value.Field.ValueSubtype and written into every value header of the
// column. Input that Zeek would not write but accepts is re-encoded in
// Zeek's form: value subtypes that vary within a column, bool payloads
// other than 0 and 1, IPv4-mapped addresses sent as family 6, subnets with
// host bits set, and a secondary-name flag with an empty name.
//
// # Errors
//
// Malformed input yields a *codec.DecodeError naming the byte offset and
// what was expected. The decoder is stricter than Zeek's reader in a few
// places, so that nothing it accepts is ambiguous: flag bytes must be 00 or
// 01, every value must have its column's type (its column's element type
// inside sets and vectors), column types must be loggable (no nested
// containers), port numbers must fit 16 bits, a batch without fields has no
// records, and trailing bytes are rejected. Counts are checked against the
// bytes left before anything is allocated for them.
package zeeklog
