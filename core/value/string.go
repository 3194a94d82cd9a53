package value

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// String renders v for people, close to how Zeek prints values: T/F,
// 443/tcp, {a, b} for sets, {[k] = v} for tables, [a, b] for vectors,
// [name=value] for records, quoted strings. It is meant for messages and
// debugging; MarshalJSON is the lossless form. Times print as RFC 3339 in
// UTC, or as seconds since the epoch when held in seconds form.
func (v Value) String() string {
	var b strings.Builder
	v.appendString(&b)
	return b.String()
}

func (v Value) appendString(b *strings.Builder) {
	switch v.kind {
	case KindNone:
		b.WriteString("none")
	case KindBool:
		if v.lo != 0 {
			b.WriteByte('T')
		} else {
			b.WriteByte('F')
		}
	case KindCount:
		b.WriteString(strconv.FormatUint(v.lo, 10))
	case KindInt:
		b.WriteString(strconv.FormatInt(int64(v.lo), 10))
	case KindReal:
		b.WriteString(strconv.FormatFloat(math.Float64frombits(v.lo), 'g', -1, 64))
	case KindString:
		b.WriteString(strconv.Quote(v.str))
	case KindEnum:
		b.WriteString(v.str)
	case KindAddr:
		b.WriteString(v.Addr().String())
	case KindSubnet:
		b.WriteString(v.Subnet().String())
	case KindPort:
		b.WriteString(v.Port().String())
	case KindTime:
		if v.aux == formSeconds {
			b.WriteString(strconv.FormatFloat(math.Float64frombits(v.lo), 'f', -1, 64))
		} else {
			b.WriteString(time.Unix(0, int64(v.lo)).UTC().Format(time.RFC3339Nano))
		}
	case KindInterval:
		if v.aux == formSeconds {
			b.WriteString(strconv.FormatFloat(math.Float64frombits(v.lo), 'g', -1, 64))
			b.WriteString("s")
		} else {
			b.WriteString(time.Duration(v.lo).String())
		}
	case KindSet:
		b.WriteByte('{')
		for i, e := range v.elems {
			if i > 0 {
				b.WriteString(", ")
			}
			e.appendString(b)
		}
		b.WriteByte('}')
	case KindTable:
		b.WriteByte('{')
		for i := 0; i+1 < len(v.elems); i += 2 {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('[')
			v.elems[i].appendString(b)
			b.WriteString("] = ")
			v.elems[i+1].appendString(b)
		}
		b.WriteByte('}')
	case KindVector:
		b.WriteByte('[')
		for i, e := range v.elems {
			if i > 0 {
				b.WriteString(", ")
			}
			e.appendString(b)
		}
		b.WriteByte(']')
	case KindRecord:
		b.WriteByte('[')
		for i, e := range v.Elems() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(v.FieldName(i))
			b.WriteByte('=')
			e.appendString(b)
		}
		b.WriteByte(']')
	default:
		b.WriteString(v.kind.String())
	}
}
