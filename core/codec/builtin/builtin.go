// Package builtin assembles zpipe's codecs into the handler sets its codec
// plugins serve: zpipe-codec-zeek (Zeek's binary formats), zpipe-codec-json
// (Broker's JSON events and JSON lines) and zpipe-codec-msgpack
// (zpipe-msgpack-v1). The same sets run in process through batch.NewLocal.
package builtin

import (
	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/core/codec/brokerjson"
	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/value"
)

// Zeek returns the handlers of Zeek's binary formats: broker-bin-v1 events
// and zeek-bin-serializer log batches, which also render straight into
// Zeek's TSV lines (zeekascii.Format) and JSON lines (jsonl.Format).
func Zeek() []batch.Handler {
	logs := batch.LogHandler(zeeklog.Codec{}, "Zeek's binary log serializer (ZEEK_BIN_V1): log batches sent to loggers")
	logs.Renders = zeekLogRenders
	return []batch.Handler{
		batch.EventHandler(brokerbin.Codec{}, "Broker's binary format v1: Zeek's default event format on the ZeroMQ backend"),
		logs,
	}
}

// JSON returns the handlers of JSON formats: broker-json-v1 events, exactly
// as Zeek writes and reads them, and zpipe-jsonl-v1, a JSON-lines rendering
// of events and log records (encoding only).
func JSON() []batch.Handler {
	return []batch.Handler{
		batch.EventHandler(brokerjson.Codec{}, "Broker's JSON format v1: Zeek's JSON event format on the ZeroMQ backend"),
		batch.RenderHandler(jsonl.Format, "JSON lines for files and people: log records as Zeek's JSON logs, events as one object per line (output only)",
			func(dst []byte, ev *value.Event) []byte { return jsonl.AppendEvent(dst, jsonl.Envelope{}, ev) },
			func(dst []byte, b *value.LogBatch) []byte { return jsonl.AppendLog(dst, b, jsonl.LogOptions{}) }),
	}
}

// Msgpack returns the handler of zpipe-msgpack-v1, for events and log
// batches.
func Msgpack() []batch.Handler {
	return []batch.Handler{
		batch.MsgpackHandler("zpipe's MessagePack encoding of events and log batches (docs/formats/zpipe-msgpack-v1.md)"),
	}
}

// All returns every handler: Zeek, JSON and Msgpack.
func All() []batch.Handler {
	return append(append(Zeek(), JSON()...), Msgpack()...)
}
