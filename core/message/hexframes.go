package message

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ParseHexFrames parses the layout of zpipe's and Zeek's test vectors: one
// frame per line in hex, surrounding white space and blank lines ignored.
// Errors name the line ("line 2: …") for the caller to prefix.
func ParseHexFrames(data []byte) ([][]byte, error) {
	var frames [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), len(data)+1)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		frame, err := hex.DecodeString(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		frames = append(frames, frame)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(frames) == 0 {
		return nil, errors.New("no frames")
	}
	return frames, nil
}
