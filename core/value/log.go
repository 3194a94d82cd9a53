package value

import (
	"fmt"
	"strconv"
)

// TypeTag is a Zeek type tag (zeek: src/Type.h), as carried by Zeek's log
// serializer for every column and every value.
type TypeTag int32

// Zeek's type tags.
const (
	TypeVoid     TypeTag = 0
	TypeBool     TypeTag = 1
	TypeInt      TypeTag = 2
	TypeCount    TypeTag = 3
	TypeDouble   TypeTag = 4
	TypeTime     TypeTag = 5
	TypeInterval TypeTag = 6
	TypeString   TypeTag = 7
	TypePattern  TypeTag = 8
	TypeEnum     TypeTag = 9
	TypePort     TypeTag = 10
	TypeAddr     TypeTag = 11
	TypeSubnet   TypeTag = 12
	TypeAny      TypeTag = 13
	TypeTable    TypeTag = 14
	TypeRecord   TypeTag = 15
	TypeList     TypeTag = 16
	TypeFunc     TypeTag = 17
	TypeFile     TypeTag = 18
	TypeVector   TypeTag = 19
	TypeOpaque   TypeTag = 20
	TypeType     TypeTag = 21
	TypeError    TypeTag = 22
)

var typeNames = [...]string{
	"void", "bool", "int", "count", "double", "time", "interval", "string",
	"pattern", "enum", "port", "addr", "subnet", "any", "table", "record",
	"list", "func", "file", "vector", "opaque", "type", "error",
}

// String returns Zeek's name of the type ("count", "addr", "table", …), or
// the number for tags Zeek does not define.
func (t TypeTag) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return strconv.Itoa(int(t))
}

// ParseTypeTag returns the tag named name (as returned by TypeTag.String),
// also accepting a decimal number.
func ParseTypeTag(name string) (TypeTag, error) {
	for t, n := range typeNames {
		if n == name {
			return TypeTag(t), nil
		}
	}
	n, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("unknown Zeek type %q", name)
	}
	return TypeTag(n), nil
}

// ValueKind returns the kind of the values a log column of this type holds:
// string for string, func and file columns, set for table (log columns
// hold only sets), and so on. ok is false for types that cannot be logged.
func (t TypeTag) ValueKind() (k Kind, ok bool) {
	switch t {
	case TypeBool:
		return KindBool, true
	case TypeInt:
		return KindInt, true
	case TypeCount:
		return KindCount, true
	case TypeDouble:
		return KindReal, true
	case TypeTime:
		return KindTime, true
	case TypeInterval:
		return KindInterval, true
	case TypeString, TypeFunc, TypeFile:
		return KindString, true
	case TypeEnum:
		return KindEnum, true
	case TypePort:
		return KindPort, true
	case TypeAddr:
		return KindAddr, true
	case TypeSubnet:
		return KindSubnet, true
	case TypeTable:
		return KindSet, true
	case TypeVector:
		return KindVector, true
	}
	return 0, false
}

// IsContainer reports whether t is a set (table) or vector type.
func (t TypeTag) IsContainer() bool { return t == TypeTable || t == TypeVector }

// Type is the type of a log column: a tag, and for sets and vectors the
// element type.
type Type struct {
	Tag TypeTag
	// Sub is the element type of a set or vector column, and 0 (void)
	// otherwise.
	Sub TypeTag
}

// String returns Zeek's spelling of the type: "count", "set[string]",
// "vector of addr".
func (t Type) String() string {
	switch t.Tag {
	case TypeTable:
		return "set[" + t.Sub.String() + "]"
	case TypeVector:
		return "vector of " + t.Sub.String()
	}
	return t.Tag.String()
}

// Field describes one column of a log batch.
type Field struct {
	// Name is the column name; nested record fields are flattened with
	// ".", e.g. "id.orig_h".
	Name string
	Type Type
	// Optional reports whether the record field is &optional.
	Optional bool
	// SecondaryName is used only by Zeek's input framework; it is empty in
	// everything the logging framework sends.
	SecondaryName string
	// ValueSubtype is the subtype Zeek writes in the header of each value
	// of this column. The logging framework always writes 0 and readers
	// ignore it; it is kept so that a batch re-encodes to the same bytes.
	ValueSubtype TypeTag
}

// LogBatch is a batch of log records of one stream, filter and path, as a
// Zeek node sends it to a logger.
type LogBatch struct {
	Stream string // Log::ID enum name, e.g. "Conn::LOG"
	Writer string // Log::Writer enum name, e.g. "Log::WRITER_ASCII"
	Filter string // filter name, e.g. "default"
	Path   string // e.g. "conn"
	Fields []Field
	// Records holds one row of len(Fields) values per record; an unset
	// column is None.
	Records [][]Value
}

// Record returns record i as a record value whose fields are named after
// the columns.
func (b *LogBatch) Record(i int) Value {
	row := b.Records[i]
	fields := make([]RecordField, len(row))
	for j, v := range row {
		name := ""
		if j < len(b.Fields) {
			name = b.Fields[j].Name
		}
		fields[j] = RecordField{Name: name, Value: v}
	}
	return Record(fields...)
}

// Validate checks that every record has one value per field and that every
// value fits its column type: the column type can be logged, set and vector
// elements are of the column's element type, and only None stands for an
// unset value or vector hole.
func (b *LogBatch) Validate() error {
	for i, f := range b.Fields {
		if err := f.Type.validate(); err != nil {
			return fmt.Errorf("field %d (%q): %w", i, f.Name, err)
		}
	}
	for r, row := range b.Records {
		if len(row) != len(b.Fields) {
			return fmt.Errorf("record %d: has %d values, want %d (one per field)", r, len(row), len(b.Fields))
		}
		for i, v := range row {
			if err := b.Fields[i].Type.check(v); err != nil {
				return fmt.Errorf("record %d field %d (%q): %w", r, i, b.Fields[i].Name, err)
			}
		}
	}
	return nil
}

// validate checks that a column of type t can be logged.
func (t Type) validate() error {
	if _, ok := t.Tag.ValueKind(); !ok {
		return fmt.Errorf("type %s cannot be logged", t.Tag)
	}
	if t.Tag.IsContainer() {
		if _, ok := t.Sub.ValueKind(); !ok || t.Sub.IsContainer() {
			return fmt.Errorf("type %s: element type %s cannot be logged", t, t.Sub)
		}
	}
	return nil
}

// check checks that v is a value of a column of type t (or None).
func (t Type) check(v Value) error {
	if v.kind == KindNone {
		return nil
	}
	want, _ := t.Tag.ValueKind()
	if v.kind != want {
		return fmt.Errorf("want %s for type %s, have %s", want, t, v.kind)
	}
	if t.Tag.IsContainer() {
		elem, _ := t.Sub.ValueKind()
		for i, e := range v.elems {
			if e.kind != elem && e.kind != KindNone {
				return fmt.Errorf("element %d: want %s for type %s, have %s", i, elem, t.Sub, e.kind)
			}
		}
	}
	return nil
}
