// Package zmsgpack decodes and encodes zpipe-msgpack-v1, zpipe's MessagePack
// encoding of Zeek events and log batches. It is the form in which decoded
// values cross the boundary between zpipe and its codec plugins, a compact
// file format, and a way for programs that are not Zeek to produce events
// and log batches with any MessagePack library. The format is specified in
// docs/formats/zpipe-msgpack-v1.md; in short:
//
//   - A document is one MessagePack map: an event {"event", "args",
//     "metadata"} or a log batch {"log", "writer", "filter", "path",
//     "fields", "records"}.
//   - Values use MessagePack's own types where they are unambiguous (nil,
//     bool, unsigned integers for counts, signed integer formats for ints,
//     float 64, str or bin for strings, arrays for vectors, maps for
//     tables), MessagePack's timestamp extension (-1) for times, and
//     extension types 1 to 9 for addresses, subnets, ports, times and
//     intervals in float seconds, intervals, enums, sets and records.
//   - Every value carries its kind, so nothing is lost: a port stays a
//     port, a count never becomes an int or a float, a time keeps the form
//     (nanoseconds or float seconds) it was decoded from.
//   - In log records the column type is known, so a value may also be
//     written in the plain form of its column's type (a float for a time,
//     a string for an address or an enum, any integer for a count or an
//     int). Producers in any language can write log batches with MessagePack's
//     basic types alone.
//
// # Canonical form
//
// The encoder writes one canonical form: the shortest MessagePack header
// for every integer, string, array, map and extension, ints in the signed
// formats, strings as str when they are UTF-8 and as bin otherwise, and
// the keys of documents in the order above, leaving out keys that hold
// their default. Decoding canonical input and encoding the result gives
// the same bytes. The decoder also accepts what other MessagePack encoders
// write (longer headers, float 32, str for non-UTF-8 bytes, keys in any
// order) and encodes it canonically.
//
// # Implementation
//
// The MessagePack subset is written by hand rather than with a library:
// the format has to control exactly which MessagePack form every value
// takes (the signed formats for ints, extension headers around nested
// documents), errors have to name the byte offset and what was expected,
// and counts have to be checked against the bytes left before anything is
// allocated for them. The libraries considered (vmihailenco/msgpack and
// tinylib/msgp) offer neither offsets nor form control, and the subset is a
// few hundred lines. Decoding copies the input once and carves every string
// out of that copy.
//
// # Errors
//
// Malformed input yields a *codec.DecodeError naming the byte offset and
// what was expected, such as "zmsgpack: offset 7: want str or bin for the
// event name, have 0x93 (fixarray of 3)". The decoder rejects unknown
// extension types, trailing bytes, unknown and repeated document keys,
// nesting deeper than MaxDepth, and counts that cannot fit in the bytes
// left. Sets and tables are carried as they are, including elements or keys
// that compare equal: the format carries whatever the data model holds, and
// the Zeek codecs reject what Zeek would reject.
package zmsgpack
