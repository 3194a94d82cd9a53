// Package vectors loads the Zeek wire vectors of testdata/zeek for tests:
// captured/ holds what a real Zeek sent and what its logger wrote,
// derived/ vectors encoded from the rules in Zeek's source
// (testdata/zeek/README.md describes both). Paths are relative to
// testdata/zeek, e.g. "captured/zeek-log-test.hex".
//
// testdata/zeek is found in the module root (the directory holding go.mod,
// found by walking up from the working directory). A missing directory or
// file fails the test with an explanation; it never skips.
package vectors

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/zpipe/zpipe/core/message"
)

// Dir is the directory of the vectors, relative to the module root.
const Dir = "testdata/zeek"

// Root returns the directory of the vectors, checked to hold captured/ and
// derived/.
func Root() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", fmt.Errorf("locate the Zeek wire vectors: %w", err)
	}
	return rootIn(root)
}

// rootIn returns the directory of the vectors in the module root root.
func rootIn(root string) (string, error) {
	dir := filepath.Join(root, filepath.FromSlash(Dir))
	for _, sub := range []string{"captured", "derived"} {
		if _, err := os.Stat(filepath.Join(dir, sub)); err != nil {
			return "", fmt.Errorf("the Zeek wire vectors are missing: %w; %s/%s is part of the repository", err, Dir, sub)
		}
	}
	return dir, nil
}

// ModuleRoot returns the directory holding the module's go.mod, found by
// walking up from the working directory.
func ModuleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("module root: no go.mod in %s or any parent", wd)
		}
		d = parent
	}
}

// Path returns the path of rel (e.g. "captured/zeek-log-test.hex"),
// failing tb if the directory of the vectors is missing.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	dir, err := Root()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(dir, rel)
}

// Glob returns the vector files matching pattern (e.g.
// "captured/zeek-log-*.hex"), sorted; it fails tb if there are none.
func Glob(tb testing.TB, pattern string) []string {
	tb.Helper()
	matches, err := filepath.Glob(Path(tb, pattern))
	if err != nil {
		tb.Fatal(err)
	}
	if len(matches) == 0 {
		tb.Fatalf("no vector in %s matches %s", Dir, pattern)
	}
	sort.Strings(matches)
	return matches
}

// Frames reads the .hex vector at path: one frame per line, hex without
// separators.
func Frames(tb testing.TB, path string) [][]byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("load vector: %v", err)
	}
	frames, err := message.ParseHexFrames(data)
	if err != nil {
		tb.Fatalf("load vector %s: %v", path, err)
	}
	return frames
}

// Load reads the .hex vector rel.
func Load(tb testing.TB, rel string) [][]byte {
	tb.Helper()
	return Frames(tb, Path(tb, rel))
}

// Payload returns the last frame of the vector rel: the payload of a
// 4-frame message, or the only frame of a payload-only vector.
func Payload(tb testing.TB, rel string) []byte {
	tb.Helper()
	frames := Load(tb, rel)
	return frames[len(frames)-1]
}

// Message is one message of the captured handshake sequence.
type Message struct {
	Seq    int
	Kind   string // "subscriptions", "publications" or "logs"
	Frames [][]byte
}

// Handshake reads captured/zeek-handshake-sequence.jsonl.
func Handshake(tb testing.TB) []Message {
	tb.Helper()
	path := Path(tb, "captured/zeek-handshake-sequence.jsonl")
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("load handshake sequence: %v", err)
	}
	var msgs []Message
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var raw struct {
			Seq       int      `json:"seq"`
			Kind      string   `json:"kind"`
			FramesHex []string `json:"frames_hex"`
		}
		if err := json.Unmarshal(line, &raw); err != nil {
			tb.Fatalf("%s line %d: %v", path, i+1, err)
		}
		m := Message{Seq: raw.Seq, Kind: raw.Kind}
		for _, h := range raw.FramesHex {
			f, err := hex.DecodeString(h)
			if err != nil {
				tb.Fatalf("%s line %d: %v", path, i+1, err)
			}
			m.Frames = append(m.Frames, f)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		tb.Fatalf("%s: no messages", path)
	}
	return msgs
}
