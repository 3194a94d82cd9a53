package schema

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// Values is a block's decoded configuration read through its schema: an
// attribute missing from the configuration has the schema's default, so a
// component states each default once, in its schema.
type Values struct {
	schema *Schema
	m      map[string]any
}

// Decode reads config, a JSON object of attribute values, against s.
func (s *Schema) Decode(config []byte) (Values, error) {
	var m map[string]any
	if err := json.Unmarshal(config, &m); err != nil {
		return Values{}, fmt.Errorf("configuration: %w", err)
	}
	return Values{schema: s, m: m}, nil
}

// value returns the value of attribute name, or its default.
func (v Values) value(name string) any {
	if x, ok := v.m[name]; ok && x != nil {
		return x
	}
	a, ok := v.schema.Lookup(name)
	if !ok {
		panic(fmt.Sprintf("schema: no attribute %q", name))
	}
	return a.Default
}

// String returns the value of a String or Duration attribute ("" when it
// has none).
func (v Values) String(name string) string {
	s, _ := v.value(name).(string)
	return s
}

// Bool returns the value of a Bool attribute.
func (v Values) Bool(name string) bool {
	b, _ := v.value(name).(bool)
	return b
}

// Number returns the value of a Number attribute (0 when it has none).
func (v Values) Number(name string) float64 {
	switch x := v.value(name).(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	}
	return 0
}

// MaxInt is the largest whole number Int accepts: 2³¹.
const MaxInt = 1 << 31

// Int returns the value of a Number attribute that must be a whole number
// from least to MaxInt.
func (v Values) Int(name string, least int) (int, error) {
	f := v.Number(name)
	if f != float64(int(f)) || int(f) < least || f > MaxInt {
		return 0, fmt.Errorf("attribute %q: want a whole number from %d to %d, have %v", name, least, MaxInt, f)
	}
	return int(f), nil
}

// Duration returns the value of a Duration attribute.
func (v Values) Duration(name string) (time.Duration, error) {
	s := v.String(name)
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("attribute %q: %q is not a duration", name, s)
	}
	return d, nil
}

// StringMap returns a copy of the value of a MapString attribute (nil
// when it has none).
func (v Values) StringMap(name string) map[string]string {
	switch x := v.value(name).(type) {
	case map[string]string:
		return maps.Clone(x)
	case map[string]any:
		out := make(map[string]string, len(x))
		for k, e := range x {
			s, _ := e.(string)
			out[k] = s
		}
		return out
	}
	return nil
}
