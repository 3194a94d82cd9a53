package zeektest

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestHandshakeSequenceShape(t *testing.T) {
	msgs := MustHandshakeSequence(t)
	if len(msgs) != 33 {
		t.Fatalf("%d messages, want 33", len(msgs))
	}
	kinds := map[string]int{}
	for i, m := range msgs {
		if m.Seq != i+1 {
			t.Fatalf("message %d has seq %d", i, m.Seq)
		}
		kinds[m.Kind]++
		switch m.Kind {
		case "subscriptions":
			if len(m.Frames) != 1 || m.Frames[0][0] > 1 {
				t.Errorf("seq %d: not a subscription message", m.Seq)
			}
		case "publications", "logs":
			if len(m.Frames) != 4 {
				t.Errorf("seq %d: %d frames", m.Seq, len(m.Frames))
			}
		}
	}
	if kinds["subscriptions"] != 24 || kinds["publications"] != 6 || kinds["logs"] != 3 {
		t.Fatalf("kinds %v", kinds)
	}
	// The split-out vectors are the same bytes as in the sequence.
	if !equalFrames(MustVector(t, "zeek-event-test_event.hex"), msgs[16].Frames) {
		t.Fatal("zeek-event-test_event.hex differs from message 17")
	}
	if !equalFrames(MustVector(t, "zeek-log-test.hex"), msgs[17].Frames) {
		t.Fatal("zeek-log-test.hex differs from message 18")
	}
}

func equalFrames(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestVectorFormatErrors(t *testing.T) {
	for _, bad := range []string{"", "{", `{"seq":1,"frames_hex":[]}`, `{"seq":1,"frames_hex":["zz"]}`} {
		if _, err := ParseHandshakeSequence([]byte(bad)); err == nil {
			t.Errorf("ParseHandshakeSequence(%q) accepted", bad)
		}
	}
}

// TestMissingVectorsExplainThemselves looks in a vector directory without
// captured vectors: the error names the file it looked for.
func TestMissingVectorsExplainThemselves(t *testing.T) {
	root := t.TempDir()
	_, err := capturedIn(root)
	want := filepath.Join(root, "captured", HandshakeFile)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "wire vectors not found") {
		t.Fatalf("error %v should say which file is missing", err)
	}
}
