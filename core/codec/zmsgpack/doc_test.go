package zmsgpack

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/internal/vectors"
)

// formatDoc is the specification of the format, relative to this package.
var formatDoc = filepath.Join("..", "..", "..", "docs", "formats", "zpipe-msgpack-v1.md")

// docExamples returns the bytes of every ```hex block of the format
// document. A line holds bytes in hex, then at least three spaces and what
// they are.
func docExamples(t *testing.T) [][]byte {
	t.Helper()
	f, err := os.Open(formatDoc)
	if err != nil {
		t.Fatalf("the format document: %v", err)
	}
	defer f.Close()
	var blocks [][]byte
	var cur []byte
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "```hex":
			in, cur = true, []byte{}
		case in && line == "```":
			in = false
			blocks = append(blocks, cur)
		case in:
			code, _, _ := strings.Cut(line, "   ")
			b, err := hex.DecodeString(strings.ReplaceAll(code, " ", ""))
			if err != nil {
				t.Fatalf("%s:%d: %v", formatDoc, n, err)
			}
			cur = append(cur, b...)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// TestDocExamples checks the examples of docs/formats/zpipe-msgpack-v1.md:
// each is what the encoder writes for the vector it names.
func TestDocExamples(t *testing.T) {
	blocks := docExamples(t)
	if len(blocks) != 3 {
		t.Fatalf("the format document has %d hex examples, want 3", len(blocks))
	}
	for i, rel := range []string{"derived/event-zmq-hello.hex", "derived/event-cluster-hello-meta.hex"} {
		ev, err := brokerbin.DecodeEvent(vectors.Payload(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		want, err := AppendEvent(nil, &ev)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(blocks[i], want) {
			t.Errorf("example %d:\n% x\nthe encoder writes for %s:\n% x", i+1, blocks[i], rel, want)
		}
	}
	b, err := zeeklog.Decode(vectors.Payload(t, "derived/log-write-cluster.hex"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := AppendLogBatch(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(blocks[2], want) {
		t.Fatalf("example 3:\n% x\nthe encoder writes:\n% x", blocks[2], want)
	}
	// The document says the time may be a plain float.
	plain := bytes.Replace(blocks[2], unhex(t, "d70441d954fc40200000"), unhex(t, "cb41d954fc40200000"), 1)
	got, err := DecodeLogBatch(plain)
	if err != nil {
		t.Fatal(err)
	}
	sameBatch(t, got, b)
}
