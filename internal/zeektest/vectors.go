package zeektest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/internal/vectors"
)

// HandshakeFile is the captured phase-A message sequence, one JSON object a
// line.
const HandshakeFile = "zeek-handshake-sequence.jsonl"

// ModuleRoot returns the directory holding the module's go.mod, found by
// walking up from the working directory.
func ModuleRoot() (string, error) { return vectors.ModuleRoot() }

// VectorsDir returns the directory of the captured Zeek wire vectors,
// testdata/zeek/captured in the module root. It fails with an explanation
// when the directory is not there.
func VectorsDir() (string, error) {
	root, err := vectors.Root()
	if err != nil {
		return "", err
	}
	return capturedIn(root)
}

// capturedIn returns the captured vectors of the vector directory root,
// checked to hold the handshake sequence.
func capturedIn(root string) (string, error) {
	dir := filepath.Join(root, "captured")
	if _, err := os.Stat(filepath.Join(dir, HandshakeFile)); err != nil {
		return "", fmt.Errorf("wire vectors not found: %w; %s/captured is part of the repository", err, vectors.Dir)
	}
	return dir, nil
}

// LoadVector reads the .hex vector called name (e.g.
// "zeek-event-test_event.hex") from VectorsDir and returns its frames.
func LoadVector(name string) ([][]byte, error) {
	dir, err := VectorsDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load vector: %w", err)
	}
	frames, err := message.ParseHexFrames(data)
	if err != nil {
		return nil, fmt.Errorf("load vector %s: %w", path, err)
	}
	return frames, nil
}

// HandshakeMessage is one message of the captured handshake sequence.
type HandshakeMessage struct {
	Seq int `json:"seq"`
	// T is the arrival time in seconds since the observer started.
	T float64 `json:"t"`
	// Kind is "subscriptions", "publications" or "logs".
	Kind string `json:"kind"`
	// Dir describes the path the message took.
	Dir       string   `json:"dir"`
	FramesHex []string `json:"frames_hex"`
	// Frames are the decoded FramesHex.
	Frames [][]byte `json:"-"`
}

// LoadHandshakeSequence reads zeek-handshake-sequence.jsonl from VectorsDir.
func LoadHandshakeSequence() ([]HandshakeMessage, error) {
	dir, err := VectorsDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, HandshakeFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load handshake sequence: %w", err)
	}
	msgs, err := ParseHandshakeSequence(data)
	if err != nil {
		return nil, fmt.Errorf("load handshake sequence %s: %w", path, err)
	}
	return msgs, nil
}

// ParseHandshakeSequence parses the JSON-lines handshake format.
func ParseHandshakeSequence(data []byte) ([]HandshakeMessage, error) {
	var msgs []HandshakeMessage
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m HandshakeMessage
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if len(m.FramesHex) == 0 {
			return nil, fmt.Errorf("line %d: no frames", i+1)
		}
		for j, h := range m.FramesHex {
			f, err := hex.DecodeString(h)
			if err != nil {
				return nil, fmt.Errorf("line %d frame %d: %w", i+1, j, err)
			}
			m.Frames = append(m.Frames, f)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return nil, errors.New("no messages")
	}
	return msgs, nil
}

// MustVector is LoadVector for tests: it fails tb with the loader's
// explanation when the vector cannot be read.
func MustVector(tb testing.TB, name string) [][]byte {
	tb.Helper()
	frames, err := LoadVector(name)
	if err != nil {
		tb.Fatal(err)
	}
	return frames
}

// MustHandshakeSequence is LoadHandshakeSequence for tests.
func MustHandshakeSequence(tb testing.TB) []HandshakeMessage {
	tb.Helper()
	msgs, err := LoadHandshakeSequence()
	if err != nil {
		tb.Fatal(err)
	}
	return msgs
}
