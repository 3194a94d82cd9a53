package brokerjson

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/value"
)

// Codec is the broker-json-v1 event codec.
type Codec struct{}

var _ codec.EventCodec = Codec{}

// Format returns "broker-json-v1".
func (Codec) Format() string { return codec.FormatBrokerJSON }

// DecodeEvent calls DecodeEvent.
func (Codec) DecodeEvent(payload []byte) (value.Event, error) { return DecodeEvent(payload) }

// AppendEvent calls AppendEvent.
func (Codec) AppendEvent(dst []byte, ev *value.Event) ([]byte, error) { return AppendEvent(dst, ev) }

// AppendEvent appends the broker-json-v1 payload of ev to dst, byte for
// byte as Zeek writes it: the JSON form of vector(3)[count 1, count 1,
// vector[name, vector(args), metadata]], the metadata vector present only
// if ev has entries, no whitespace. Sets and tables are written in the
// order they hold (see value.Sorted for Zeek's order); a set with two equal
// elements or a table with two equal keys is an error.
func AppendEvent(dst []byte, ev *value.Event) ([]byte, error) {
	dst = append(dst, `{"@data-type":"vector","data":[{"@data-type":"count","data":1},{"@data-type":"count","data":1},{"@data-type":"vector","data":[{"@data-type":"string","data":`...)
	dst = appendQuoted(dst, ev.Name)
	dst = append(dst, `},`...)
	var err error
	if len(ev.Args) == 0 {
		dst = append(dst, `{"@data-type":"vector","data":[]}`...)
	} else {
		dst = append(dst, `{"@data-type":"vector","data":[`...)
		for i, a := range ev.Args {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendValue(dst, a, 3); err != nil {
				return dst, fmt.Errorf("%s: event %s argument %d: %w", name, ev.Name, i, err)
			}
		}
		dst = append(dst, `]}`...)
	}
	if len(ev.Metadata) > 0 {
		dst = append(dst, `,{"@data-type":"vector","data":[`...)
		for i, m := range ev.Metadata {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"@data-type":"vector","data":[{"@data-type":"count","data":`...)
			dst = strconv.AppendUint(dst, m.ID, 10)
			dst = append(dst, `},`...)
			if dst, err = appendValue(dst, m.Value, 4); err != nil {
				return dst, fmt.Errorf("%s: event %s metadata entry %d: %w", name, ev.Name, i, err)
			}
			dst = append(dst, `]}`...)
		}
		dst = append(dst, `]}`...)
	}
	return append(dst, `]}]}`...), nil
}

// AppendValue appends the broker-json-v1 form of v to dst. A record is
// written as the vector of its field values.
func AppendValue(dst []byte, v value.Value) ([]byte, error) {
	dst, err := appendValue(dst, v, 0)
	if err != nil {
		return dst, fmt.Errorf("%s: %w", name, err)
	}
	return dst, nil
}

func open(dst []byte, typ string) []byte {
	dst = append(dst, `{"@data-type":"`...)
	dst = append(dst, typ...)
	return append(dst, `","data":`...)
}

func appendValue(dst []byte, v value.Value, depth int) ([]byte, error) {
	switch v.Kind() {
	case value.KindNone:
		return append(open(dst, "none"), `{}}`...), nil
	case value.KindBool:
		return append(strconv.AppendBool(open(dst, "boolean"), v.Bool()), '}'), nil
	case value.KindCount:
		return append(strconv.AppendUint(open(dst, "count"), v.Count(), 10), '}'), nil
	case value.KindInt:
		return append(strconv.AppendInt(open(dst, "integer"), v.Int(), 10), '}'), nil
	case value.KindReal:
		return append(appendReal(open(dst, "real"), v.Real()), '}'), nil
	case value.KindString:
		return append(appendQuoted(open(dst, "string"), v.Str()), '}'), nil
	case value.KindEnum:
		return append(appendQuoted(open(dst, "enum-value"), v.Str()), '}'), nil
	case value.KindAddr:
		dst = append(open(dst, "address"), '"')
		return append(v.Addr().AppendTo(dst), `"}`...), nil
	case value.KindSubnet:
		dst = append(open(dst, "subnet"), '"')
		dst = v.Addr().AppendTo(dst)
		dst = append(dst, '/')
		dst = strconv.AppendInt(dst, int64(v.Bits()), 10)
		return append(dst, `"}`...), nil
	case value.KindPort:
		p := v.Port()
		dst = append(open(dst, "port"), '"')
		dst = strconv.AppendUint(dst, uint64(p.Num), 10)
		switch p.Proto {
		case value.ProtoTCP:
			dst = append(dst, "/tcp"...)
		case value.ProtoUDP:
			dst = append(dst, "/udp"...)
		case value.ProtoICMP:
			dst = append(dst, "/icmp"...)
		default:
			dst = append(dst, "/?"...)
		}
		return append(dst, `"}`...), nil
	case value.KindTime, value.KindInterval:
		ns := v.Nanos()
		if v.SecondsForm() {
			var ok bool
			if ns, ok = value.SecondsToNanos(v.Seconds()); !ok {
				return dst, fmt.Errorf("%s of %g seconds does not fit in int64 nanoseconds", v.Kind(), v.Seconds())
			}
		}
		if v.Kind() == value.KindTime {
			return append(appendTimestamp(open(dst, "timestamp"), ns), '}'), nil
		}
		return append(appendTimespan(open(dst, "timespan"), ns), '}'), nil
	}
	if depth >= MaxDepth {
		return dst, fmt.Errorf("containers nested deeper than %d", MaxDepth)
	}
	var err error
	switch v.Kind() {
	case value.KindSet, value.KindVector, value.KindRecord:
		typ := "vector"
		if v.Kind() == value.KindSet {
			typ = "set"
			if i, j, dup := value.FindDuplicate(v); dup {
				return dst, fmt.Errorf("set element %d duplicates element %d", j, i)
			}
		}
		dst = append(open(dst, typ), '[')
		for i, e := range v.Elems() {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendValue(dst, e, depth+1); err != nil {
				return dst, fmt.Errorf("%s element %d: %w", v.Kind(), i, err)
			}
		}
		return append(dst, `]}`...), nil
	case value.KindTable:
		if i, j, dup := value.FindDuplicate(v); dup {
			return dst, fmt.Errorf("table key %d duplicates key %d", j, i)
		}
		dst = append(open(dst, "table"), '[')
		kv := v.Pairs()
		for i := 0; i < len(kv); i += 2 {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"key":`...)
			if dst, err = appendValue(dst, kv[i], depth+1); err != nil {
				return dst, fmt.Errorf("table key %d: %w", i/2, err)
			}
			dst = append(dst, `,"value":`...)
			if dst, err = appendValue(dst, kv[i+1], depth+1); err != nil {
				return dst, fmt.Errorf("table value %d: %w", i/2, err)
			}
			dst = append(dst, '}')
		}
		return append(dst, `]}`...), nil
	}
	return dst, fmt.Errorf("cannot encode a value of kind %s", v.Kind())
}

// appendQuoted quotes s as Broker does: it escapes \\, ", \b, \f, \n, \r,
// \t and \v and copies every other byte as is.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\v':
			dst = append(dst, '\\', 'v')
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendReal writes f as C's printf("%f"): six decimals, and nan, -nan,
// inf or -inf for the special values.
func appendReal(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		if math.Signbit(f) {
			return append(dst, "-nan"...)
		}
		return append(dst, "nan"...)
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	}
	return strconv.AppendFloat(dst, f, 'f', 6, 64)
}

// appendTimestamp writes ns as Broker does: "YYYY-MM-DDTHH:MM:SS.mmm" in
// UTC, truncated to milliseconds. Like Broker, it truncates the seconds
// toward zero and writes ".000" for a negative millisecond remainder, so
// times before 1970 with a fraction come out up to a second late.
func appendTimestamp(dst []byte, ns int64) []byte {
	secs := ns / 1e9
	msecs := ns / 1e6 % 1000
	dst = append(dst, '"')
	dst = time.Unix(secs, 0).UTC().AppendFormat(dst, "2006-01-02T15:04:05")
	dst = append(dst, '.')
	if msecs > 0 {
		dst = append(dst, byte('0'+msecs/100), byte('0'+msecs/10%10), byte('0'+msecs%10))
	} else {
		dst = append(dst, "000"...)
	}
	return append(dst, '"')
}

// appendTimespan writes ns as Broker does: "0s", or an integer with the
// coarsest of the units ns, us, ms and s that represents it exactly.
func appendTimespan(dst []byte, ns int64) []byte {
	dst = append(dst, '"')
	switch {
	case ns == 0:
		dst = append(dst, "0s"...)
	case ns%1000 != 0:
		dst = append(strconv.AppendInt(dst, ns, 10), "ns"...)
	case ns/1000%1000 != 0:
		dst = append(strconv.AppendInt(dst, ns/1000, 10), "us"...)
	case ns/1e6%1000 != 0:
		dst = append(strconv.AppendInt(dst, ns/1e6, 10), "ms"...)
	default:
		dst = append(strconv.AppendInt(dst, ns/1e9, 10), "s"...)
	}
	return append(dst, '"')
}
