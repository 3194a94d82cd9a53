// Package vectors loads the shared Zeek wire vectors for the codec tests:
// the ones derived from the specification (shared/spec/vectors) and the
// ones captured from a real Zeek (shared/vectors).
//
// The shared directory is $ZPIPE_SHARED if set, else ../shared next to the
// module root (the directory holding go.mod, found by walking up from the
// working directory). A missing directory fails the test with an
// explanation; it never skips.
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

// SharedEnv names the environment variable holding the shared directory.
const SharedEnv = "ZPIPE_SHARED"

// SharedDir returns the shared directory, checked to hold vectors/ and
// spec/vectors/.
func SharedDir() (string, error) {
	dir, origin := os.Getenv(SharedEnv), "$"+SharedEnv
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", fmt.Errorf("locate shared vectors: %w; set %s to the shared directory", err, SharedEnv)
		}
		dir, origin = filepath.Join(root, "..", "shared"), "the default location ../shared next to the module root"
	}
	for _, sub := range []string{"vectors", filepath.Join("spec", "vectors")} {
		if _, err := os.Stat(filepath.Join(dir, sub)); err != nil {
			return "", fmt.Errorf("shared vectors not found in %s (from %s): %w; set %s to the directory holding vectors/ and spec/vectors/",
				dir, origin, err, SharedEnv)
		}
	}
	return filepath.Clean(dir), nil
}

func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod in %s or any parent", wd)
		}
		d = parent
	}
}

// Path returns the path of rel (e.g. "vectors/zeek-log-test.hex") in the
// shared directory, failing tb if the directory is missing.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	dir, err := SharedDir()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(dir, rel)
}

// Glob returns the shared files matching pattern (relative to the shared
// directory, e.g. "vectors/zeek-log-*.hex"), sorted; it fails tb if there
// are none.
func Glob(tb testing.TB, pattern string) []string {
	tb.Helper()
	matches, err := filepath.Glob(Path(tb, pattern))
	if err != nil {
		tb.Fatal(err)
	}
	if len(matches) == 0 {
		tb.Fatalf("no shared vector matches %s", pattern)
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

// Load reads the .hex vector rel (relative to the shared directory).
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

// Handshake reads vectors/zeek-handshake-sequence.jsonl.
func Handshake(tb testing.TB) []Message {
	tb.Helper()
	path := Path(tb, filepath.Join("vectors", "zeek-handshake-sequence.jsonl"))
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
