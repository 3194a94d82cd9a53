package transport

import "testing"

func TestProblems(t *testing.T) {
	var ps Problems
	if ps.Has("bind") {
		t.Fatal("an empty list has a problem")
	}
	ps.Addf("bind", 2, "port %d out of range", 99999)
	ps.Addf("", -1, "no endpoint")
	if !ps.Has("bind") || !ps.Has("") || ps.Has("connect") {
		t.Fatalf("Has is wrong for %+v", ps)
	}
	if want := (Problem{Attribute: "bind", Index: 2, Message: "port 99999 out of range"}); ps[0] != want {
		t.Fatalf("got %+v, want %+v", ps[0], want)
	}
}
