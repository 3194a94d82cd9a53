package builtin

import "testing"

// TestRegistry: every built-in kind has a valid schema, a description and a
// unique name.
func TestRegistry(t *testing.T) {
	r, err := Registry()
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != len(Kinds()) {
		t.Fatalf("registry has %d kinds, want %d", r.Len(), len(Kinds()))
	}
	for _, k := range Kinds() {
		if k.Description == "" {
			t.Errorf("stage %q has no description", k.Name)
		}
		for _, a := range k.Schema.Attributes {
			if a.Description == "" {
				t.Errorf("stage %q attribute %q has no description", k.Name, a.Name)
			}
		}
	}
}
