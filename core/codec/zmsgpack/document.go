package zmsgpack

import (
	"github.com/zpipe/zpipe/core/value"
)

// docKind is what the keys read so far say a document is.
type docKind int

const (
	docUnknown docKind = iota
	docEvent
	docLog
)

// keyKinds maps every document key to the kind of document it belongs to.
var keyKinds = map[string]docKind{
	keyEvent: docEvent, keyArgs: docEvent, keyMetadata: docEvent,
	keyLog: docLog, keyWriter: docLog, keyFilter: docLog, keyPath: docLog, keyFields: docLog, keyRecords: docLog,
}

// document reads an event or a log batch. The records of a log batch are
// read after the rest of the map, since their values are read as the
// column types say and a producer may write "records" before "fields".
func (d *decoder) document() (Document, error) {
	at := d.pos
	n, err := d.mapHeader("a document (an event or a log batch)")
	if err != nil {
		return Document{}, err
	}
	if n == 0 {
		return Document{}, d.errorf(at, `want a document with the key "event" (an event) or "log" (a log batch), have an empty map`)
	}
	kind := docUnknown
	var seen keySet
	ev := &value.Event{}
	b := &value.LogBatch{Writer: DefaultWriter, Filter: DefaultFilter}
	recordsAt := -1
	for range n {
		kat := d.pos
		key, err := d.str("a document key")
		if err != nil {
			return Document{}, err
		}
		k, known := keyKinds[key]
		switch {
		case !known:
			return Document{}, d.errorf(kat, `unknown document key %q (an event has "event", "args" and "metadata"; a log batch has "log", "writer", "filter", "path", "fields" and "records")`, key)
		case seen.has(key):
			return Document{}, d.errorf(kat, "document key %q appears twice", key)
		case kind != docUnknown && k != kind:
			return Document{}, d.errorf(kat, "document key %q belongs to %s, but the keys before it to %s", key, kindName(k), kindName(kind))
		}
		seen.add(key)
		kind = k
		switch key {
		case keyEvent:
			ev.Name, err = d.str("the event name")
		case keyArgs:
			ev.Args, err = d.args()
		case keyMetadata:
			ev.Metadata, err = d.metadata()
		case keyLog:
			b.Stream, err = d.str("the log stream")
		case keyWriter:
			b.Writer, err = d.str("the log writer")
		case keyFilter:
			b.Filter, err = d.str("the log filter")
		case keyPath:
			b.Path, err = d.str("the log path")
		case keyFields:
			b.Fields, err = d.fields()
		case keyRecords:
			if seen.has(keyFields) {
				b.Records, err = d.records(b.Fields)
				break
			}
			recordsAt = d.pos
			err = d.skip(0)
		}
		if err != nil {
			return Document{}, err
		}
	}
	if kind == docEvent {
		if !seen.has(keyEvent) {
			return Document{}, d.errorf(at, `event document without the key "event" (the event name)`)
		}
		return Document{Event: ev}, nil
	}
	for _, k := range []string{keyLog, keyPath, keyFields} {
		if !seen.has(k) {
			return Document{}, d.errorf(at, "log batch document without the key %q", k)
		}
	}
	if recordsAt >= 0 {
		end := d.pos
		d.pos = recordsAt
		if b.Records, err = d.records(b.Fields); err != nil {
			return Document{}, err
		}
		d.pos = end
	}
	if err := b.Validate(); err != nil { // every check was made above; this is a safety net
		return Document{}, d.errorf(at, "invalid log batch: %v", err)
	}
	return Document{Log: b}, nil
}

func kindName(k docKind) string {
	if k == docEvent {
		return "an event"
	}
	return "a log batch"
}

func (d *decoder) args() ([]value.Value, error) {
	n, err := d.array("the event arguments")
	if err != nil {
		return nil, err
	}
	return d.values(n, 0, "event argument")
}

func (d *decoder) metadata() ([]value.Metadata, error) {
	n, err := d.array("the event metadata")
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]value.Metadata, n)
	for i := range out {
		at := d.pos
		m, err := d.array("a metadata entry [id, value]")
		if err != nil {
			return nil, err
		}
		if m != 2 {
			return nil, d.errorf(at, "want a metadata entry of 2 elements [id, value], have %d", m)
		}
		idAt := d.pos
		id, err := d.value(1)
		if err != nil {
			return nil, err
		}
		if id.Kind() != value.KindCount {
			return nil, d.errorf(idAt, "want a count for the id of metadata entry %d, have %s", i, id.Kind())
		}
		v, err := d.value(1)
		if err != nil {
			return nil, err
		}
		out[i] = value.Metadata{ID: id.Count(), Value: v}
	}
	return out, nil
}

func (d *decoder) fields() ([]value.Field, error) {
	n, err := d.array("the log fields")
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]value.Field, n)
	for i := range out {
		if out[i], err = d.field(i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// field reads one field descriptor.
func (d *decoder) field(i int) (value.Field, error) {
	at := d.pos
	n, err := d.mapHeader("a field")
	if err != nil {
		return value.Field{}, err
	}
	var f value.Field
	var seen keySet
	for range n {
		kat := d.pos
		key, err := d.str("a field key")
		if err != nil {
			return f, err
		}
		if seen.has(key) {
			return f, d.errorf(kat, "field %d: key %q appears twice", i, key)
		}
		seen.add(key)
		vat := d.pos
		switch key {
		case keyName:
			f.Name, err = d.str("the field name")
		case keyOptional:
			f.Optional, err = d.boolean("optional")
		case keySecondaryName:
			f.SecondaryName, err = d.str("the secondary name")
		case keyType, keySubtype, keyValueSubtype:
			var s string
			if s, err = d.str("a Zeek type name"); err != nil {
				break
			}
			tag, perr := value.ParseTypeTag(s)
			if perr != nil {
				return f, d.errorf(vat, "field %d %s: %v", i, key, perr)
			}
			switch key {
			case keyType:
				f.Type.Tag = tag
			case keySubtype:
				f.Type.Sub = tag
			default:
				f.ValueSubtype = tag
			}
		default:
			return f, d.errorf(kat, `field %d: unknown key %q (want "name", "type", "subtype", "optional", "secondary_name" or "value_subtype")`, i, key)
		}
		if err != nil {
			return f, err
		}
	}
	for _, k := range []string{keyName, keyType} {
		if !seen.has(k) {
			return f, d.errorf(at, "field %d: missing key %q", i, k)
		}
	}
	if _, ok := f.Type.Tag.ValueKind(); !ok {
		return f, d.errorf(at, "field %d (%q): type %s cannot be logged", i, f.Name, f.Type.Tag)
	}
	if f.Type.Tag.IsContainer() {
		if !seen.has(keySubtype) {
			return f, d.errorf(at, "field %d (%q): type %s needs a \"subtype\" (its element type)", i, f.Name, f.Type.Tag)
		}
		if _, ok := f.Type.Sub.ValueKind(); !ok || f.Type.Sub.IsContainer() {
			return f, d.errorf(at, "field %d (%q): type %s: element type %s cannot be logged", i, f.Name, f.Type, f.Type.Sub)
		}
	}
	return f, nil
}

// records reads the records of a log batch, each value as its column's
// type says (see coerce).
func (d *decoder) records(fields []value.Field) ([][]value.Value, error) {
	n, err := d.array("the log records")
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	// The kind of each scalar column, for the common case of a value that
	// has it; containers always go through coerce.
	kinds := make([]value.Kind, len(fields))
	for i, f := range fields {
		kinds[i] = value.KindNone
		if !f.Type.Tag.IsContainer() {
			kinds[i], _ = f.Type.Tag.ValueKind()
		}
	}
	m := len(fields)
	if uint64(n)*uint64(m) > uint64(d.remaining()) {
		return nil, d.errorf(d.pos, "%d records of %d fields cannot fit in the remaining %d bytes", n, m, d.remaining())
	}
	all := make([]value.Value, n*m)
	out := make([][]value.Value, n)
	for r := range out {
		at := d.pos
		k, err := d.array("a log record")
		if err != nil {
			return nil, err
		}
		if k != m {
			return nil, d.errorf(at, "record %d has %d values, want %d (one per field)", r, k, m)
		}
		row := all[r*m : (r+1)*m : (r+1)*m]
		for i := range row {
			vat := d.pos
			v, err := d.value(1)
			if err != nil {
				return nil, err
			}
			if v.Kind() != kinds[i] && !v.IsNone() {
				var why string
				if v, why = coerce(v, fields[i].Type); why != "" {
					return nil, d.errorf(vat, "record %d field %d (%q): %s", r, i, fields[i].Name, why)
				}
			}
			row[i] = v
		}
		out[r] = row
	}
	return out, nil
}

// keySet records which known keys a map held.
type keySet uint32

// keyBit numbers the keys of documents and field descriptors.
func keyBit(key string) keySet {
	switch key {
	case keyEvent:
		return 1 << 0
	case keyArgs:
		return 1 << 1
	case keyMetadata:
		return 1 << 2
	case keyLog:
		return 1 << 3
	case keyWriter:
		return 1 << 4
	case keyFilter:
		return 1 << 5
	case keyPath:
		return 1 << 6
	case keyFields:
		return 1 << 7
	case keyRecords:
		return 1 << 8
	case keyName:
		return 1 << 9
	case keyType:
		return 1 << 10
	case keySubtype:
		return 1 << 11
	case keyOptional:
		return 1 << 12
	case keySecondaryName:
		return 1 << 13
	case keyValueSubtype:
		return 1 << 14
	}
	return 0
}

func (s keySet) has(key string) bool { return s&keyBit(key) != 0 }
func (s *keySet) add(key string)     { *s |= keyBit(key) }
