// Package brokerjson decodes and encodes broker-json-v1, the JSON payload
// format of Zeek's events on the ZeroMQ cluster backend: the value tree of
// broker-bin-v1 with every value written as {"@data-type":…,"data":…}.
//
// # Encoding
//
// The encoder writes exactly what Zeek writes: no whitespace, keys in
// Zeek's order, counts and integers in decimal, reals as printf("%f") (six
// decimals; nan, -nan, inf and -inf for the special values, which are not
// JSON), strings with only \\, \", \b, \f, \n, \r, \t and \v escaped and
// every other byte copied (so non-UTF-8 strings give non-UTF-8 JSON),
// addresses and subnets as CAF prints them, ports as "443/tcp" ("?" for an
// unknown protocol), timestamps as "YYYY-MM-DDTHH:MM:SS.mmm" (UTC,
// truncated to milliseconds; times before 1970 with a fraction come out as
// Broker writes them, a second late with ".000"; Broker itself formats in
// the process's local time zone, which equals this only where Zeek runs in
// UTC), and timespans as an
// integer with the coarsest exact unit of ns, us, ms and s. Reals and
// timestamps therefore lose precision exactly as in Zeek; encoding what
// was decoded reaches a fixed point after one pass.
//
// # Decoding
//
// The decoder reads what Zeek reads: keys in any order, whitespace, other
// keys ignored (so WebSocket-style objects with "type" and "topic" work),
// standard JSON escapes plus \v, raw control and non-UTF-8 bytes in
// strings, reals only with a decimal point or exponent (or nan/inf),
// ISO 8601 timestamps with an optional fraction and zone (none means UTC),
// timespans in ns, us, ms, s, min or h, ports "<n>/<proto>" (an unknown
// protocol is unknown, a bare number is tcp), and "none" values with any or
// no data. It rejects duplicate set elements and table keys, as Zeek does.
// Where Zeek's parser is lenient by accident it is stricter: port numbers
// must fit 16 bits (Broker truncates them) and "\/" means "/" (CAF's
// unescaper turns it into "?"). Errors are *codec.DecodeError values with
// the byte offset and what was expected.
package brokerjson
