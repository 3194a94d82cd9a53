// Package schema describes the attributes a plugin or a built-in component
// accepts in its HCL block. The core decodes and validates every block body
// against its schema before anything starts, so mistakes surface as HCL
// diagnostics with file:line:col.
package schema

import (
	"encoding/json"
	"fmt"
	"time"
)

// Type is the type of an attribute's value.
type Type string

// The attribute types a schema can use.
const (
	String     Type = "string"
	Number     Type = "number"
	Bool       Type = "bool"
	ListString Type = "list(string)"
	MapString  Type = "map(string)"
	// Duration is a string in Go duration syntax ("500ms", "10s").
	Duration Type = "duration"
)

// Valid reports whether t is one of the known types.
func (t Type) Valid() bool {
	switch t {
	case String, Number, Bool, ListString, MapString, Duration:
		return true
	}
	return false
}

// Attribute describes one attribute of a block.
type Attribute struct {
	Name string
	Type Type
	// Required attributes have no default; leaving them out is an error.
	Required bool
	// Default is the value used when the attribute is absent: a string,
	// float64/int, bool, []string or map[string]string matching Type, or nil.
	Default any
	// Description is shown by `zpipe plugins` and in error messages.
	Description string
	// OneOf restricts a String attribute to the listed values.
	OneOf []string
	// Capability names a capability the transport must declare for a value
	// other than the default to be accepted.
	Capability string
}

// Schema is the set of attributes a block accepts.
type Schema struct {
	Attributes []Attribute
}

// Lookup returns the attribute called name.
func (s *Schema) Lookup(name string) (Attribute, bool) {
	for _, a := range s.Attributes {
		if a.Name == name {
			return a, true
		}
	}
	return Attribute{}, false
}

// Check verifies the schema itself: known types, unique names, defaults of
// the declared type. Plugins' schemas are checked when they are loaded.
func (s *Schema) Check() error {
	seen := make(map[string]bool, len(s.Attributes))
	for _, a := range s.Attributes {
		if a.Name == "" {
			return fmt.Errorf("schema: attribute with empty name")
		}
		if seen[a.Name] {
			return fmt.Errorf("schema: attribute %q declared twice", a.Name)
		}
		seen[a.Name] = true
		if !a.Type.Valid() {
			return fmt.Errorf("schema: attribute %q: unknown type %q", a.Name, a.Type)
		}
		if a.Required && a.Default != nil {
			return fmt.Errorf("schema: attribute %q is required and has a default", a.Name)
		}
		if a.Default != nil {
			if err := checkValue(a, a.Default); err != nil {
				return fmt.Errorf("schema: attribute %q: default: %w", a.Name, err)
			}
		}
	}
	return nil
}

// checkValue verifies that v (as decoded from JSON or given in Go) fits a.
func checkValue(a Attribute, v any) error {
	switch a.Type {
	case String, Duration:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, have %T", v)
		}
		if a.Type == Duration {
			if _, err := time.ParseDuration(s); err != nil {
				return err
			}
		}
		if len(a.OneOf) > 0 && !contains(a.OneOf, s) {
			return fmt.Errorf("%q is not one of %q", s, a.OneOf)
		}
	case Number:
		switch v.(type) {
		case float64, int, int64:
		default:
			return fmt.Errorf("want a number, have %T", v)
		}
	case Bool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("want a bool, have %T", v)
		}
	case ListString:
		switch l := v.(type) {
		case []string:
		case []any:
			for _, e := range l {
				if _, ok := e.(string); !ok {
					return fmt.Errorf("want a list of strings, have an element of type %T", e)
				}
			}
		default:
			return fmt.Errorf("want a list of strings, have %T", v)
		}
	case MapString:
		switch m := v.(type) {
		case map[string]string:
		case map[string]any:
			for k, e := range m {
				if _, ok := e.(string); !ok {
					return fmt.Errorf("want a map of strings, have key %q of type %T", k, e)
				}
			}
		default:
			return fmt.Errorf("want a map of strings, have %T", v)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// DefaultJSON returns the JSON encoding of a's default, or "" when it has none.
func (a Attribute) DefaultJSON() (string, error) {
	if a.Default == nil {
		return "", nil
	}
	b, err := json.Marshal(a.Default)
	if err != nil {
		return "", fmt.Errorf("attribute %q: encode default: %w", a.Name, err)
	}
	return string(b), nil
}

// ParseDefaultJSON sets a's default from its JSON encoding ("" = none).
func (a *Attribute) ParseDefaultJSON(s string) error {
	if s == "" {
		a.Default = nil
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return fmt.Errorf("attribute %q: decode default: %w", a.Name, err)
	}
	a.Default = v
	return checkValue(*a, v)
}
