package main

import (
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	vals, err := parseArgs(`["s", 0, 18446744073709551615, -3, 1.5, 1e3, false, null, [1, "x"], {"@type":"addr","value":"10.0.0.1"}]`)
	if err != nil {
		t.Fatal(err)
	}
	var kinds, texts []string
	for _, v := range vals {
		kinds = append(kinds, v.Kind().String())
		texts = append(texts, v.String())
	}
	if got := strings.Join(kinds, " "); got != "string count count int real real bool none vector addr" {
		t.Fatalf("kinds %s (%v)", got, texts)
	}
	for _, bad := range []string{`{"a":1}`, `[1e999]`, `[{"@type":"nope"}]`, `[18446744073709551616]`} {
		if _, err := parseArgs(bad); err == nil {
			t.Errorf("parseArgs(%s) succeeded", bad)
		}
	}
}
