// Package codec holds what Zeek's payload codecs share: the format names
// that appear in frame 2 of Zeek's messages, the interfaces the codecs
// implement, and the error they report for malformed input.
//
// The codecs themselves live in subpackages: brokerbin (broker-bin-v1
// events), brokerjson (broker-json-v1 events) and zeeklog
// (zeek-bin-serializer log batches). All decode into and encode from the
// data model of package value.
package codec

import (
	"fmt"

	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/core/zeekproto"
)

// Format names as they appear in frame 2 of Zeek's messages, those of
// package zeekproto (docs/zeek-wire.md#messages).
const (
	FormatBrokerBin  = zeekproto.FormatBrokerBin  // events, Zeek's default
	FormatBrokerJSON = zeekproto.FormatBrokerJSON // events
	FormatZeekLog    = zeekproto.FormatZeekLog    // log batches (Zeek's ZEEK_BIN_V1)
)

// EventCodec decodes and encodes the payload (frame 3) of Zeek's event
// messages.
type EventCodec interface {
	// Format returns the format name of frame 2.
	Format() string
	// DecodeEvent decodes one payload. The event does not share memory
	// with payload.
	DecodeEvent(payload []byte) (value.Event, error)
	// AppendEvent appends the payload of ev to dst.
	AppendEvent(dst []byte, ev *value.Event) ([]byte, error)
}

// LogCodec decodes and encodes the payload (frame 3) of Zeek's log-write
// messages.
type LogCodec interface {
	// Format returns the format name of frame 2.
	Format() string
	// DecodeLogBatch decodes one payload. The batch does not share memory
	// with payload.
	DecodeLogBatch(payload []byte) (*value.LogBatch, error)
	// AppendLogBatch appends the payload of b to dst.
	AppendLogBatch(dst []byte, b *value.LogBatch) ([]byte, error)
}

// DecodeError reports malformed input: which codec, where, and what was
// expected. Its text reads like
// "brokerbin: offset 17: want vector tag 0x0e, have 0x05".
type DecodeError struct {
	// Codec is the short codec name: "brokerbin", "brokerjson" or
	// "zeeklog".
	Codec string
	// Offset is the byte offset in the payload where decoding failed.
	Offset int
	// Msg says what was expected and what was found.
	Msg string
}

// Error implements error.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("%s: offset %d: %s", e.Codec, e.Offset, e.Msg)
}

// Errorf returns a DecodeError for codec at offset with a formatted
// message.
func Errorf(codec string, offset int, format string, args ...any) *DecodeError {
	return &DecodeError{Codec: codec, Offset: offset, Msg: fmt.Sprintf(format, args...)}
}
