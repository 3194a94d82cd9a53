package otlpsink

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"

	"github.com/zpipe/zpipe/core/value"
)

// ScopeName is the name of the instrumentation scope of every log record
// the sink exports.
const ScopeName = "github.com/zpipe/zpipe/otlpsink"

// Attribute keys and values the sink sets on log records and on the scope.
const (
	// AttrMessagingSystem is set to MessagingSystem on every record.
	AttrMessagingSystem = "messaging.system"
	// MessagingSystem is the value of AttrMessagingSystem.
	MessagingSystem = "zeromq"
	// AttrDestination holds the message's topic (frame 0).
	AttrDestination = "messaging.destination.name"
	// AttrNodeID holds the sender's Zeek node id (frame 1).
	AttrNodeID = "zeek.node_id"
	// AttrFormat holds the payload's format (frame 2), on event records.
	AttrFormat = "zeek.format"
	// AttrLogPath holds the log path, on log records.
	AttrLogPath = "zeek.log.path"
	// AttrComponent is the scope attribute naming the zpipe component.
	AttrComponent = "zpipe.component"
	// AttrPipeline is the scope attribute naming the zpipe pipeline.
	AttrPipeline = "zpipe.pipeline"
	// LogEventPrefix prefixes the log path in the EventName of log records.
	LogEventPrefix = "zeek.log."
)

// timeLayout is RFC 3339 in UTC with all nine digits of nanoseconds, so
// that the strings sort in time order.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// envelope is what a message says besides its payload.
type envelope struct {
	topic, sender, format string
	recv                  int64 // receive time, ns since the epoch
}

// eventRecord maps an event to one log record.
func eventRecord(ev *value.Event, env envelope) *logspb.LogRecord {
	ts := env.recv
	if ns, ok := ev.NetworkTimestamp(); ok && ns > 0 {
		ts = ns
	}
	args := make([]commonpb.AnyValue, len(ev.Args))
	argp := make([]*commonpb.AnyValue, len(ev.Args))
	for i, a := range ev.Args {
		setAny(&args[i], a, portText)
		argp[i] = &args[i]
	}
	attrs := newKeyValues(4)
	for _, p := range [4][2]string{
		{AttrMessagingSystem, MessagingSystem},
		{AttrDestination, utf8Safe(env.topic)},
		{AttrNodeID, utf8Safe(env.sender)},
		{AttrFormat, utf8Safe(env.format)},
	} {
		attrs.add(p[0]).Value = &commonpb.AnyValue_StringValue{StringValue: p[1]}
	}
	return &logspb.LogRecord{
		TimeUnixNano:         uint64(ts),
		ObservedTimeUnixNano: uint64(env.recv),
		EventName:            utf8Safe(ev.Name),
		Body:                 &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: argp}}},
		Attributes:           attrs.ptrs,
	}
}

// logRecords appends one log record per record of b to dst.
func logRecords(dst []*logspb.LogRecord, b *value.LogBatch, env envelope) []*logspb.LogRecord {
	if len(b.Records) == 0 {
		return dst
	}
	path := utf8Safe(b.Path)
	eventName := LogEventPrefix + path
	topic, sender := utf8Safe(env.topic), utf8Safe(env.sender)
	names := make([]string, len(b.Fields))
	tsCol := -1
	for i, f := range b.Fields {
		switch f.Name {
		case AttrLogPath, AttrNodeID, AttrMessagingSystem, AttrDestination:
			names[i] = "" // the sink's own attribute wins; the column is left out
			continue
		}
		names[i] = utf8Safe(f.Name)
		if f.Name == "ts" && f.Type.Tag == value.TypeTime && tsCol < 0 {
			tsCol = i
		}
	}
	meta := [4][2]string{
		{AttrLogPath, path},
		{AttrNodeID, sender},
		{AttrMessagingSystem, MessagingSystem},
		{AttrDestination, topic},
	}
	for _, row := range b.Records {
		n := len(meta)
		for i, v := range row {
			if i < len(names) && names[i] != "" && !v.IsNone() {
				n++
			}
		}
		attrs := newKeyValues(n)
		for i, v := range row {
			if i >= len(names) || names[i] == "" || v.IsNone() {
				continue
			}
			setAny(attrs.add(names[i]), v, portNumber)
		}
		for _, p := range meta {
			attrs.add(p[0]).Value = &commonpb.AnyValue_StringValue{StringValue: p[1]}
		}
		ts := env.recv
		if tsCol >= 0 && tsCol < len(row) && row[tsCol].Kind() == value.KindTime {
			if ns := timeNanos(row[tsCol]); ns > 0 {
				ts = ns
			}
		}
		dst = append(dst, &logspb.LogRecord{
			TimeUnixNano:         uint64(ts),
			ObservedTimeUnixNano: uint64(env.recv),
			EventName:            eventName,
			Attributes:           attrs.ptrs,
		})
	}
	return dst
}

// keyValues are n attributes allocated together: their KeyValues, their
// AnyValues, and the slice of pointers OTLP messages hold.
type keyValues struct {
	kvs  []commonpb.KeyValue
	vals []commonpb.AnyValue
	ptrs []*commonpb.KeyValue
}

func newKeyValues(n int) keyValues {
	return keyValues{kvs: make([]commonpb.KeyValue, n), vals: make([]commonpb.AnyValue, n), ptrs: make([]*commonpb.KeyValue, 0, n)}
}

// add appends the attribute key and returns its value, to be set.
func (k *keyValues) add(key string) *commonpb.AnyValue {
	j := len(k.ptrs)
	k.kvs[j].Key, k.kvs[j].Value = key, &k.vals[j]
	k.ptrs = append(k.ptrs, &k.kvs[j])
	return &k.vals[j]
}

// portForm says how ports map: as their number (log columns, as Zeek's
// JSON logs write them, the protocol being a column of its own) or as text
// with the protocol, "443/tcp" (event arguments, where nothing else keeps
// the protocol).
type portForm bool

const (
	portNumber portForm = false
	portText   portForm = true
)

// setAny sets dst to the OTLP form of v.
func setAny(dst *commonpb.AnyValue, v value.Value, ports portForm) {
	switch v.Kind() {
	case value.KindNone:
		dst.Value = nil
	case value.KindBool:
		dst.Value = &commonpb.AnyValue_BoolValue{BoolValue: v.Bool()}
	case value.KindCount:
		if c := v.Count(); c > math.MaxInt64 {
			dst.Value = &commonpb.AnyValue_StringValue{StringValue: strconv.FormatUint(c, 10)}
		} else {
			dst.Value = &commonpb.AnyValue_IntValue{IntValue: int64(c)}
		}
	case value.KindInt:
		dst.Value = &commonpb.AnyValue_IntValue{IntValue: v.Int()}
	case value.KindReal:
		dst.Value = &commonpb.AnyValue_DoubleValue{DoubleValue: v.Real()}
	case value.KindString, value.KindEnum:
		dst.Value = &commonpb.AnyValue_StringValue{StringValue: utf8Safe(v.Str())}
	case value.KindAddr:
		dst.Value = &commonpb.AnyValue_StringValue{StringValue: string(value.AppendZeekAddr(nil, v.Addr()))}
	case value.KindSubnet:
		b := value.AppendZeekAddr(make([]byte, 0, 48), v.Addr())
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(v.Bits()), 10)
		dst.Value = &commonpb.AnyValue_StringValue{StringValue: string(b)}
	case value.KindPort:
		if ports == portText {
			dst.Value = &commonpb.AnyValue_StringValue{StringValue: v.String()}
		} else {
			dst.Value = &commonpb.AnyValue_IntValue{IntValue: int64(v.Port().Num)}
		}
	case value.KindTime:
		dst.Value = &commonpb.AnyValue_StringValue{StringValue: time.Unix(0, timeNanos(v)).UTC().Format(timeLayout)}
	case value.KindInterval:
		dst.Value = &commonpb.AnyValue_DoubleValue{DoubleValue: v.Seconds()}
	case value.KindSet, value.KindVector:
		dst.Value = &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: anyValues(v.Elems(), ports)}}
	case value.KindTable:
		pairs := v.Pairs()
		entries := make([]commonpb.AnyValue, len(pairs)/2)
		out := make([]*commonpb.AnyValue, len(entries))
		for i := range entries {
			entries[i].Value = &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: anyValues(pairs[2*i:2*i+2], ports)}}
			out[i] = &entries[i]
		}
		dst.Value = &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: out}}
	case value.KindRecord:
		fields := v.Elems()
		n := 0
		for _, f := range fields {
			if !f.IsNone() {
				n++
			}
		}
		fieldsKV := newKeyValues(n)
		for i, f := range fields {
			if f.IsNone() {
				continue
			}
			setAny(fieldsKV.add(utf8Safe(v.FieldName(i))), f, ports)
		}
		dst.Value = &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: fieldsKV.ptrs}}
	default:
		dst.Value = &commonpb.AnyValue_StringValue{StringValue: utf8Safe(v.String())}
	}
}

// anyValues returns the OTLP forms of vs.
func anyValues(vs []value.Value, ports portForm) []*commonpb.AnyValue {
	vals := make([]commonpb.AnyValue, len(vs))
	out := make([]*commonpb.AnyValue, len(vs))
	for i, e := range vs {
		setAny(&vals[i], e, ports)
		out[i] = &vals[i]
	}
	return out
}

// timeNanos returns a time in nanoseconds since the epoch. A time in
// Zeek's log form (float64 seconds) is rounded to the microsecond, the
// precision Zeek's log writers print and the most a double around today's
// epoch seconds carries; digits below it would be noise.
func timeNanos(v value.Value) int64 {
	if !v.SecondsForm() {
		return v.Nanos()
	}
	us := math.Round(v.Seconds() * 1e6)
	if math.IsNaN(us) || us >= math.MaxInt64/1000 || us <= math.MinInt64/1000 {
		return v.Nanos() // NaN: 0; out of range: saturated
	}
	return int64(us) * 1000
}

// utf8Safe returns s if it is UTF-8, and otherwise s with every byte that
// is not part of a UTF-8 sequence written as the text \xNN (lowercase hex),
// as Zeek's JSON log writer does.
func utf8Safe(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	const hex = "0123456789abcdef"
	b := make([]byte, 0, len(s)+16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, '\\', 'x', hex[s[i]>>4], hex[s[i]&0xf])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return string(b)
}
