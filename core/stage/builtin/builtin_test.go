package builtin

import "testing"

// TestRegistry: every built-in kind has a valid schema, a description and a
// unique name.
func TestRegistry(t *testing.T) {
	r, err := Registry()
	if err != nil {
		t.Fatal(err)
	}
	names := r.Names()
	if len(names) != len(Kinds()) {
		t.Fatalf("registry has %v", names)
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
