package registry

import (
	"context"
	"slices"
	"sync"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/value"
)

// Rendered is a log batch its codec rendered into the lines of a log file.
type Rendered struct {
	// Log holds the batch's stream, path and fields, and no records.
	Log value.LogBatch
	// Records is the number of records of the batch.
	Records int
	// Lines holds the records, one line each. The lines of consecutive
	// batches rendered by one codec call follow one another in memory:
	// Lines of the next starts where these end, within their capacity.
	Lines []byte
}

// Chunks of RenderMessages: a chunk holds messages up to renderChunkBytes
// of payload (or one larger message), and at most renderWindow chunks are
// at their codecs at once. This bounds the memory a batch takes on its way
// through the codecs, and lets the codecs work on the next chunks while
// the caller writes the lines of one.
const (
	renderChunkBytes = 1 << 20
	renderWindow     = 3
)

// RenderMessages is DecodeMessages for writers of log files. The payloads
// of formats whose codec renders log batches into target come back
// rendered (Message.Rendered, the Decoded part empty); the others are
// decoded as DecodeMessages decodes them, unhandled messages passed on
// undecoded or dropped as policy says. fn gets the messages chunk by
// chunk, in order, while the codecs already work on the chunks that
// follow; what it gets is valid only until it returns. An error of fn, or
// of a codec failing as a whole, ends the call with that error once the
// calls in flight have ended; the chunks before were handled.
func (r *Registry) RenderMessages(ctx context.Context, msgs *message.Batch, target string, policy Unhandled, fn func([]Message) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pending []*renderChunk
	defer func() {
		cancel()
		for _, c := range pending {
			<-c.done
			chunkPool.Put(c)
		}
	}()
	it := msgs.Iter()
	more := it.Next()
	for {
		for more && len(pending) < renderWindow {
			c := chunkPool.Get().(*renderChunk)
			more = r.fillChunk(ctx, c, &it, target, policy)
			pending = append(pending, c)
			go c.run(ctx)
		}
		if len(pending) == 0 {
			return nil
		}
		c := pending[0]
		<-c.done
		pending = pending[1:]
		err := c.err
		if err == nil {
			r.finish(c)
			err = fn(c.msgs)
		}
		chunkPool.Put(c)
		if err != nil {
			return err
		}
	}
}

var chunkPool = sync.Pool{New: func() any { return new(renderChunk) }}

// renderChunk is a run of consecutive messages of a batch and their codec
// calls, one per format.
type renderChunk struct {
	msgs   []Message
	groups []*renderGroup
	used   int // groups in use
	done   chan struct{}
	err    error
}

// renderGroup is the messages of one format in a chunk.
type renderGroup struct {
	entry    *Entry
	target   string // empty: decode
	pos      []int  // positions in renderChunk.msgs
	payloads batch.Items
	decoded  batch.Result
	rendered batch.RenderResult
	logs     []Rendered
}

// fillChunk fills c with the messages from it on, up to renderChunkBytes
// of payload, and reports whether it stopped before the end of the batch
// (it is then at the first message of the next chunk).
func (r *Registry) fillChunk(ctx context.Context, c *renderChunk, it *message.Iter, target string, policy Unhandled) bool {
	c.msgs, c.used, c.err, c.done = c.msgs[:0], 0, nil, make(chan struct{})
	var frames [][]byte
	var last Message // the previous message, whose strings the next may share
	size := 0
	for {
		m := Message{Index: it.Index()}
		switch {
		case it.NumFrames() != 4:
			r.stats.malformed()
			if policy == PassUndecoded {
				m.Undecoded = true
				c.msgs = append(c.msgs, m)
			}
		default:
			frames = it.Frames(frames[:0])
			m.Topic, m.Sender, m.Format = intern(last.Topic, frames[0]), intern(last.Sender, frames[1]), intern(last.Format, frames[2])
			last = m
			g := r.group(ctx, c, m.Format, target)
			if g == nil {
				r.stats.add(m.Format, 0, 0, 1)
				if policy == PassUndecoded {
					m.Undecoded = true
					c.msgs = append(c.msgs, m)
				}
				break
			}
			g.pos = append(g.pos, len(c.msgs))
			g.payloads.Append(frames[3])
			size += len(frames[3])
			c.msgs = append(c.msgs, m)
		}
		if !it.Next() {
			return false
		}
		if size >= renderChunkBytes {
			return true
		}
	}
}

// group returns the group of format in c, starting it if needed; nil if
// no codec decodes the format.
func (r *Registry) group(ctx context.Context, c *renderChunk, format, target string) *renderGroup {
	for _, g := range c.groups[:c.used] {
		if g.entry.Name == format {
			return g
		}
	}
	e := r.decoder(ctx, format)
	if e == nil {
		return nil
	}
	if c.used == len(c.groups) {
		c.groups = append(c.groups, new(renderGroup))
	}
	g := c.groups[c.used]
	c.used++
	g.entry, g.target = e, ""
	if e.renders(target) {
		g.target = target
	}
	g.pos = g.pos[:0]
	g.payloads.Reset()
	return g
}

// run makes the codec calls of c and closes c.done.
func (c *renderChunk) run(ctx context.Context) {
	defer close(c.done)
	for _, g := range c.groups[:c.used] {
		format := g.entry.Name
		var err error
		if g.target != "" {
			err = g.entry.codec.(batch.Renderer).Render(ctx, format, g.target, &g.payloads, &g.rendered)
		} else {
			err = g.entry.codec.Decode(ctx, format, &g.payloads, &g.decoded)
		}
		if err != nil {
			c.err = err
			return
		}
	}
}

// finish puts the results of c's codec calls into its messages.
func (r *Registry) finish(c *renderChunk) {
	for _, g := range c.groups[:c.used] {
		if g.target == "" {
			decoded := make([]Decoded, len(c.msgs))
			r.fill(g.entry.Name, decoded, &g.decoded, func(i int) int { return g.pos[i] })
			for _, p := range g.pos {
				c.msgs[p].Decoded = decoded[p]
			}
			continue
		}
		res := &g.rendered
		g.logs = slices.Grow(g.logs[:0], len(g.pos))[:len(g.pos)]
		failed, end := 0, 0
		for i, size := range res.Lines.Sizes {
			// Lines keep the capacity of the data after them, so that a
			// writer can join the lines of consecutive batches.
			lines := res.Lines.Data[end : end+int(size)]
			end += int(size)
			m := &c.msgs[g.pos[i]]
			if e := res.Err(i); e != nil {
				m.Err = e
				failed++
				continue
			}
			l := &res.Logs[i]
			g.logs[i] = Rendered{
				Log:     value.LogBatch{Stream: l.Stream, Path: l.Path, Fields: res.Schemas[l.Schema]},
				Records: l.Records,
				Lines:   lines,
			}
			m.Rendered = &g.logs[i]
		}
		r.stats.add(g.entry.Name, uint64(len(g.pos)-failed), uint64(failed), 0)
	}
}

// intern returns prev if it holds the bytes of b, else b as a new string:
// consecutive messages mostly share topic, sender and format.
func intern(prev string, b []byte) string {
	if string(b) == prev {
		return prev
	}
	return string(b)
}
