package filesink

import (
	"context"
	"fmt"

	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/codec/zeekascii"
	"github.com/zpipe/zpipe/core/message"
)

// renderTargets maps the log file formats to the rendering a codec makes
// of log batches for them: lines exactly as Zeek's logger writes them.
var renderTargets = map[string]string{
	FormatTSV:  zeekascii.Format,
	FormatJSON: jsonl.Format,
}

// pushLogs writes the log batches of b to the log files (tsv, json). Their
// codec renders them into lines of the files' format, in its own process
// and while the lines of the batches before are being written; a codec
// that does not render a format decodes it instead, and the lines are
// rendered here. Without rotation by size, consecutive batches for the
// same file go out in one write.
func (s *Sink) pushLogs(ctx context.Context, b *message.Batch) error {
	written := 0
	err := s.env.Codecs.RenderMessages(ctx, b, renderTargets[s.cfg.Format], registry.PassUndecoded, func(msgs []registry.Message) error {
		for i := 0; i < len(msgs); {
			m := &msgs[i]
			if m.Rendered == nil {
				if s.handle(m) {
					written++
				}
				i++
				continue
			}
			n, records, lines := s.joined(msgs[i:])
			if err := s.logs.WriteRendered(&m.Rendered.Log, records, lines); err != nil {
				for range n {
					s.rejected(&m.Rendered.Log, err)
				}
			} else {
				written += n
			}
			i += n
		}
		return nil
	})
	s.counters.Sent(written)
	if err != nil {
		return fmt.Errorf("file: decode: %w", err)
	}
	return nil
}

// joined returns how many messages from msgs[0], a rendered log batch, can go
// out in one write, with their records and lines: consecutive rendered
// batches for the same path with the same fields whose lines follow one
// another in memory. With rotation by size every batch goes alone, so
// that a file is rotated before any batch that would take it past the
// size.
func (s *Sink) joined(msgs []registry.Message) (n, records int, lines []byte) {
	first := msgs[0].Rendered
	n, records, lines = 1, first.Records, first.Lines
	if s.cfg.RotateSize > 0 {
		return n, records, lines
	}
	for _, m := range msgs[1:] {
		r := m.Rendered
		if r == nil || r.Log.Path != first.Log.Path || !sameSchema(r, first) || !adjacent(lines, r.Lines) {
			break
		}
		n, records, lines = n+1, records+r.Records, lines[:len(lines)+len(r.Lines)]
	}
	return n, records, lines
}

// sameSchema reports whether two rendered batches share their fields (the
// same schema of their codec's answer).
func sameSchema(a, b *registry.Rendered) bool {
	fa, fb := a.Log.Fields, b.Log.Fields
	return len(fa) == len(fb) && (len(fa) == 0 || &fa[0] == &fb[0])
}

// adjacent reports whether next starts where lines ends, in the same
// array.
func adjacent(lines, next []byte) bool {
	if len(next) == 0 {
		return true
	}
	return cap(lines) >= len(lines)+len(next) && &lines[:len(lines)+1][len(lines)] == &next[0]
}
