// Package value is zpipe's data model for Zeek's values: one Go
// representation that every codec decodes into and encodes from.
//
// # Values
//
// A Value holds one Zeek value of one of these kinds:
//
//	none      no value; in records and log batches: an unset field
//	bool      T or F
//	count     uint64
//	int       int64
//	real      float64 (Zeek's double)
//	string    bytes, not necessarily UTF-8 (Zeek strings are byte strings)
//	addr      IPv4 or IPv6 address (IPv4-mapped IPv6 addresses are IPv4, as in Zeek)
//	subnet    address prefix, host bits cleared
//	port      number and protocol: tcp, udp, icmp or unknown
//	time      nanoseconds since the Unix epoch, or float64 seconds (see below)
//	interval  nanoseconds, or float64 seconds
//	enum      the enum value's name, e.g. "Conn::LOG" or "tcp"
//	set       elements, in the order held
//	table     key/value entries, in the order held
//	vector    elements (Broker's list); also how records travel in events
//	record    named fields, each possibly unset (none)
//
// Value is a tagged struct, not an interface: scalars live inline, so a
// decoded log record of 22 columns costs one slice, where boxing each
// column would cost an allocation per column (see BenchmarkConnRow).
//
// Times and intervals keep the representation they were decoded from.
// Broker carries int64 nanoseconds; Zeek's log serializer carries float64
// seconds, which do not convert to nanoseconds and back without loss (a
// duration of 0.00035691261291503906 s has no exact nanosecond value).
// Value.Nanos and Value.Seconds convert as Zeek does (seconds × 10⁹
// truncated toward zero; ns / 10⁹), so a value decoded from one format
// encodes into the other as Zeek would convert it, and into its own format
// without loss.
//
// # Order
//
// Compare orders values the way Broker orders set elements and table keys,
// which is the order Zeek writes them in; Sorted puts every set and table
// of a value into that order, so that encoding reproduces Zeek's bytes.
// Decoders keep the order they read; encoders write the order held.
// FindDuplicate finds set elements or table keys that Broker would reject.
//
// # Events and log batches
//
// An Event is a name, arguments and metadata (id → value; the network
// timestamp has id 1). A LogBatch is Zeek's unit of remote logging: stream,
// writer, filter and path, typed fields, and records of one value per
// field.
//
// # Typed JSON
//
// Value, Event, Field and LogBatch marshal to and from a JSON form that
// loses nothing: every value is an object naming its kind in "@type".
//
//	{"@type":"none"}
//	{"@type":"bool","value":true}
//	{"@type":"count","value":"18446744073709551615"}   decimal string (a JSON number is accepted)
//	{"@type":"int","value":"-7"}                       decimal string (a JSON number is accepted)
//	{"@type":"real","value":1.5}                       shortest round-trip number, or "NaN", "+Inf", "-Inf"
//	{"@type":"string","value":"text"}                  if the bytes are UTF-8, else
//	{"@type":"string","value_base64":"/wA="}
//	{"@type":"addr","value":"2001:db8::1"}
//	{"@type":"subnet","value":"10.0.0.0/8"}
//	{"@type":"port","value":"443/tcp"}                 tcp, udp, icmp or unknown
//	{"@type":"time","value":"2023-11-14T22:13:20.5Z"}  RFC 3339 in UTC, nanosecond precision, or
//	{"@type":"time","seconds":1700000000.25}           the float seconds form
//	{"@type":"interval","value":"1m30s"}               Go duration (nanoseconds), or
//	{"@type":"interval","seconds":2.5}                 the float seconds form
//	{"@type":"enum","value":"Conn::LOG"}               (or "value_base64")
//	{"@type":"set","value":[…]}
//	{"@type":"table","value":[{"key":…,"value":…},…]}
//	{"@type":"vector","value":[…]}
//	{"@type":"record","value":[{"name":"a","value":…},…]}   (or "name_base64")
//
// JSON null decodes as none. An event is {"name":…,"args":[…],"metadata":
// [{"id":1,"value":…}]}; a log batch is {"stream","writer","filter","path",
// "fields":[{"name","type","subtype","optional"}],"records":[[…],…]}, with
// type names as Zeek spells them ("count", "table", …).
package value
