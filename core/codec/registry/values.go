package registry

import (
	"context"
	"fmt"
	"sync"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/zmsgpack"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/value"
)

// Decoded is the outcome of decoding one payload: an event or a log batch,
// or the payload's error.
type Decoded struct {
	Event *value.Event
	Log   *value.LogBatch
	// Err is the payload's failure, a *batch.ItemError when the codec
	// rejected it.
	Err error
}

// Decode decodes payloads of format through the codec that handles it.
// One result per payload; a payload that does not decode has Err set and
// fails nothing else. The error is for the call as a whole (no codec
// handles the format, the codec failed).
func (r *Registry) Decode(ctx context.Context, format string, payloads [][]byte) ([]Decoded, error) {
	e, err := r.Lookup(ctx, format, OpDecode)
	if err != nil {
		return nil, err
	}
	var in batch.Items
	for _, p := range payloads {
		in.Append(p)
	}
	var res batch.Result
	if err := e.codec.Decode(ctx, format, &in, &res); err != nil {
		return nil, err
	}
	out := make([]Decoded, len(payloads))
	r.fill(format, out, &res, func(i int) int { return i })
	return out, nil
}

// fill turns the documents of res into out[at(i)] and counts the outcome.
func (r *Registry) fill(format string, out []Decoded, res *batch.Result, at func(int) int) {
	failed := 0
	for i, doc := range res.Items.All() {
		d := &out[at(i)]
		if e := res.Err(i); e != nil {
			d.Err = e
			failed++
			continue
		}
		doc, err := zmsgpack.Decode(doc)
		if err != nil {
			d.Err = fmt.Errorf("codec returned a malformed document: %w", err)
			failed++
			continue
		}
		d.Event, d.Log = doc.Event, doc.Log
	}
	r.stats.add(format, uint64(res.Items.Len()-failed), uint64(failed), 0)
}

// Encoded is the outcome of encoding one document: the payload, or the
// document's error.
type Encoded struct {
	Payload []byte
	Err     error
}

// Encode encodes events and log batches (each document holds one) into
// payloads of format through the codec that handles it.
func (r *Registry) Encode(ctx context.Context, format string, docs []zmsgpack.Document) ([]Encoded, error) {
	e, err := r.Lookup(ctx, format, OpEncode)
	if err != nil {
		return nil, err
	}
	out := make([]Encoded, len(docs))
	var in batch.Items
	for i, d := range docs {
		start := len(in.Data)
		switch {
		case d.Event != nil:
			in.Data, err = zmsgpack.AppendEvent(in.Data, d.Event)
		case d.Log != nil:
			in.Data, err = zmsgpack.AppendLogBatch(in.Data, d.Log)
		default:
			err = fmt.Errorf("document %d holds neither an event nor a log batch", i)
		}
		if err != nil {
			in.Data = in.Data[:start]
			out[i].Err = err
		}
		in.Sizes = append(in.Sizes, uint32(len(in.Data)-start))
	}
	var res batch.Result
	if err := e.codec.Encode(ctx, format, &in, &res); err != nil {
		return nil, err
	}
	for i, p := range res.Items.All() {
		if out[i].Err != nil {
			continue
		}
		if e := res.Err(i); e != nil {
			out[i].Err = e
			continue
		}
		out[i].Payload = p
	}
	return out, nil
}

// Unhandled says what DecodeMessages does with a message that cannot be
// decoded as a whole: its format is one no codec decodes, or it does not
// have the four frames of Zeek's messages.
type Unhandled int

// Policies for unhandled messages.
const (
	// PassUndecoded keeps the message, undecoded.
	PassUndecoded Unhandled = iota
	// DropUnhandled drops it.
	DropUnhandled
)

// Message is one message of a batch DecodeMessages decoded, or passed on
// undecoded.
type Message struct {
	// Index is the message's position in the batch.
	Index int
	// Topic, Sender and Format are frames 0 to 2; empty when the message
	// does not have Zeek's four frames.
	Topic, Sender, Format string
	// Decoded holds the event or log batch, or the payload's error.
	Decoded
	// Rendered holds the log batch rendered by its codec (RenderMessages
	// only); Decoded then holds nothing.
	Rendered *Rendered
	// Undecoded is set for a message passed on without decoding.
	Undecoded bool
}

// DecodeMessages decodes a batch of Zeek-shaped messages (topic, sender,
// format, payload), grouping the payloads by format so that each codec gets
// one batch. A message whose format no codec decodes, or that does not have
// four frames, is counted (see Stats) and passed on undecoded or dropped as
// policy says; a payload that does not decode has its Err set. Only a
// failing codec fails the call.
func (r *Registry) DecodeMessages(ctx context.Context, msgs *message.Batch, policy Unhandled) ([]Message, error) {
	out := make([]Message, 0, msgs.Len())
	type group struct {
		entry    *Entry
		pos      []int // positions in out
		payloads batch.Items
	}
	groups := make(map[string]*group)
	var order []*group
	var frames [][]byte
	for it := msgs.Iter(); it.Next(); {
		m := Message{Index: it.Index()}
		if it.NumFrames() != 4 {
			r.stats.malformed()
			if policy == PassUndecoded {
				m.Undecoded = true
				out = append(out, m)
			}
			continue
		}
		frames = it.Frames(frames[:0])
		m.Topic, m.Sender, m.Format = string(frames[0]), string(frames[1]), string(frames[2])
		g, ok := groups[m.Format]
		if !ok {
			if e := r.decoder(ctx, m.Format); e != nil {
				g = &group{entry: e}
				order = append(order, g)
			}
			groups[m.Format] = g
		}
		if g == nil {
			r.stats.add(m.Format, 0, 0, 1)
			if policy == PassUndecoded {
				m.Undecoded = true
				out = append(out, m)
			}
			continue
		}
		g.pos = append(g.pos, len(out))
		g.payloads.Append(frames[3])
		out = append(out, m)
	}
	decoded := make([]Decoded, len(out))
	for _, g := range order {
		format := g.entry.Name
		var res batch.Result
		if err := g.entry.codec.Decode(ctx, format, &g.payloads, &res); err != nil {
			return nil, err
		}
		r.fill(format, decoded, &res, func(i int) int { return g.pos[i] })
	}
	for i := range out {
		if !out[i].Undecoded {
			out[i].Decoded = decoded[i]
		}
	}
	return out, nil
}

// Stats counts what DecodeMessages and Decode saw, by format.
type Stats struct {
	// Decoded counts payloads decoded, Failed payloads that did not
	// decode, Unhandled messages whose format no codec decodes.
	Decoded, Failed, Unhandled map[string]uint64
	// Malformed counts messages without Zeek's four frames.
	Malformed uint64
}

// Stats returns the counters so far.
func (r *Registry) Stats() Stats { return r.stats.snapshot() }

type counters struct {
	mu sync.Mutex
	s  Stats
}

func newCounters() counters {
	return counters{s: Stats{Decoded: map[string]uint64{}, Failed: map[string]uint64{}, Unhandled: map[string]uint64{}}}
}

func (c *counters) add(format string, decoded, failed, unhandled uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if decoded > 0 {
		c.s.Decoded[format] += decoded
	}
	if failed > 0 {
		c.s.Failed[format] += failed
	}
	if unhandled > 0 {
		c.s.Unhandled[format] += unhandled
	}
}

func (c *counters) malformed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.Malformed++
}

func (c *counters) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := Stats{Decoded: map[string]uint64{}, Failed: map[string]uint64{}, Unhandled: map[string]uint64{}, Malformed: c.s.Malformed}
	for k, v := range c.s.Decoded {
		out.Decoded[k] = v
	}
	for k, v := range c.s.Failed {
		out.Failed[k] = v
	}
	for k, v := range c.s.Unhandled {
		out.Unhandled[k] = v
	}
	return out
}

// Transcoded is the outcome of transcoding one payload.
type Transcoded struct {
	// Payload is the payload in the target format; it aliases memory of
	// the call's result, valid until the next Transcode with the same out.
	Payload []byte
	// DecodeErr is set when the payload did not decode; EncodeErr when
	// its document could not be encoded in the target format.
	DecodeErr, EncodeErr error
}

// Transcode re-encodes payloads of format from into format to. The
// decoder's documents go straight to the encoder, so nothing is converted
// to values in between. out gets one result per payload. The error is for
// the call as a whole: no codec decodes from or encodes to, or a codec
// failed.
func (r *Registry) Transcode(ctx context.Context, from, to string, payloads *batch.Items, out []Transcoded) ([]Transcoded, error) {
	dec, err := r.Lookup(ctx, from, OpDecode)
	if err != nil {
		return out, err
	}
	enc, err := r.Lookup(ctx, to, OpEncode)
	if err != nil {
		return out, err
	}
	var docs, payloadsOut batch.Result
	if err := dec.codec.Decode(ctx, from, payloads, &docs); err != nil {
		return out, err
	}
	r.stats.add(from, uint64(payloads.Len()-len(docs.Errors)), uint64(len(docs.Errors)), 0)
	// Failed items are empty documents; the encoder fails them too, and
	// the decode error is the one reported.
	if err := enc.codec.Encode(ctx, to, &docs.Items, &payloadsOut); err != nil {
		return out, err
	}
	out = out[:0]
	for i, p := range payloadsOut.Items.All() {
		var t Transcoded
		switch {
		case docs.Err(i) != nil:
			t.DecodeErr = docs.Err(i)
		case payloadsOut.Err(i) != nil:
			t.EncodeErr = payloadsOut.Err(i)
		default:
			t.Payload = p
		}
		out = append(out, t)
	}
	return out, nil
}
