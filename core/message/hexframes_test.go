package message

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseHexFrames(t *testing.T) {
	got, err := ParseHexFrames([]byte("0102\n\n  ff  \r\nABcd\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{{1, 2}, {0xff}, {0xab, 0xcd}}
	if len(got) != len(want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d: got %x, want %x", i, got[i], want[i])
		}
	}
	for input, msg := range map[string]string{
		"":          "no frames",
		"\n  \n":    "no frames",
		"01\nzz\n":  "line 2",
		"0\n":       "line 1",
		"01 02\n03": "line 1",
	} {
		if _, err := ParseHexFrames([]byte(input)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseHexFrames(%q): error %v, want one containing %q", input, err, msg)
		}
	}
	long := strings.Repeat("ab", 200000)
	if got, err := ParseHexFrames([]byte(long)); err != nil || len(got[0]) != 200000 {
		t.Fatalf("a 200 kB frame: %v", err)
	}
}
