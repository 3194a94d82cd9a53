package value

import (
	"net/netip"
	"testing"
)

func TestAppendZeekAddr(t *testing.T) {
	cases := []struct{ in, want string }{
		{"10.1.2.3", "10.1.2.3"},
		{"2001:db8::1", "2001:db8::1"},
		{"::1", "::1"},
		{"::", "::"},
		{"::1.2.3.4", "::1.2.3.4"},
		{"::0.0.0.2", "::2"},
		{"2001:0:4137:9e50:8000:f12a:b9c8:2815", "2001:0:4137:9e50:8000:f12a:b9c8:2815"},
		{"2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"},
	}
	for _, c := range cases {
		a := netip.MustParseAddr(c.in)
		if got := string(AppendZeekAddr([]byte("x"), a)); got != "x"+c.want {
			t.Errorf("%s: %s, want x%s", c.in, got, c.want)
		}
	}
}
