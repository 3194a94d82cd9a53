package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/plugin"
	"github.com/zpipe/zpipe/core/value"
)

// codecDocument is the JSON that decode prints and encode reads: a payload
// decoded into typed values (value's lossless JSON), with the envelope of
// the message it came in when there was one.
type codecDocument struct {
	// Topic and Sender are frames 0 and 1 of a message; absent for a bare
	// payload. Bytes that are not UTF-8 go in the _base64 variants.
	Topic        *string `json:"topic,omitempty"`
	TopicBase64  []byte  `json:"topic_base64,omitempty"`
	Sender       *string `json:"sender,omitempty"`
	SenderBase64 []byte  `json:"sender_base64,omitempty"`
	// Format is the payload's format (frame 2 of a message).
	Format string          `json:"format"`
	Event  *value.Event    `json:"event,omitempty"`
	Log    *value.LogBatch `json:"log,omitempty"`
}

// isMessage reports whether the document carries a message's envelope.
func (d *codecDocument) isMessage() bool {
	return d.Topic != nil || d.TopicBase64 != nil || d.Sender != nil || d.SenderBase64 != nil
}

// setFrame stores frame bytes as text, or as base64 when not UTF-8.
func setFrame(text **string, b64 *[]byte, frame []byte) {
	if utf8.Valid(frame) {
		s := string(frame)
		*text = &s
		return
	}
	*b64 = append([]byte{}, frame...)
}

// frameOf returns the bytes of a frame held as text or base64.
func frameOf(text *string, b64 []byte) []byte {
	if text != nil {
		return []byte(*text)
	}
	return b64
}

func newDecodeCmd(a *app) *cobra.Command {
	var format string
	var hexIn bool
	cmd := &cobra.Command{
		Use:   "decode [FILE|-]",
		Short: "Decode a payload or a Zeek message and print it as typed JSON",
		Long: `Decode reads one payload, or one whole Zeek message, and prints it as JSON
in which every value names its type, so that nothing is lost:

  {"topic":"zeek.cluster.nodeid.…","sender":"zeromq_manager_…","format":"broker-bin-v1",
   "event":{"name":"Cluster::hello","args":[{"@type":"string","value":"manager"},…]}}

The input is FILE, or standard input when FILE is "-" or missing. Without
--hex it is one bare payload, whose format --format names. With --hex it is
the layout of the test vectors: one frame per line in hex. One frame is a
bare payload; four frames are a Zeek message (topic, sender, format,
payload) whose frame 2 names the format (--format, if given, must agree).

Payloads are decoded by the codec plugin that handles their format
(zpipe-codec-zeek, -json, -msgpack), found like transports: --plugin-dir,
$ZPIPE_PLUGIN_DIR, then the directory of zpipe. 'zpipe encode' turns the
JSON back into the same bytes.

  zpipe decode --hex testdata/zeek/captured/zeek-event-test_event.hex
  zpipe decode --format broker-bin-v1 payload.bin

Exit status: 0 when decoded, 1 when the input does not decode, 2 for a
wrong command line.`,
		Args: argsUsage(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := a.readInput(args)
			if err != nil {
				return err
			}
			frames := [][]byte{data}
			if hexIn {
				if frames, err = message.ParseHexFrames(data); err != nil {
					return fmt.Errorf("hex input %w", err)
				}
			}
			var doc codecDocument
			var payload []byte
			switch len(frames) {
			case 1:
				if format == "" {
					return usageError{errors.New("a bare payload needs --format to name its format (or use --hex with the 4 frames of a message)")}
				}
				doc.Format, payload = format, frames[0]
			case 4:
				if !utf8.Valid(frames[2]) {
					return fmt.Errorf("frame 2 %q is not a format name", frames[2])
				}
				doc.Format = string(frames[2])
				if format != "" && format != doc.Format {
					return fmt.Errorf("--format %q, but frame 2 of the message names %q", format, doc.Format)
				}
				setFrame(&doc.Topic, &doc.TopicBase64, frames[0])
				setFrame(&doc.Sender, &doc.SenderBase64, frames[1])
				payload = frames[3]
			default:
				return fmt.Errorf("input has %d frames: want 1 (a payload) or 4 (a Zeek message: topic, sender, format, payload)", len(frames))
			}
			reg, err := a.codecRegistry()
			if err != nil {
				return err
			}
			defer reg.Close()
			out, err := reg.Decode(cmd.Context(), doc.Format, [][]byte{payload})
			if err != nil {
				return err
			}
			if err := out[0].Err; err != nil {
				var ie *batch.ItemError
				if errors.As(err, &ie) {
					return fmt.Errorf("payload does not decode as %s: %s", doc.Format, ie.Msg)
				}
				return fmt.Errorf("payload does not decode as %s: %w", doc.Format, err)
			}
			doc.Event, doc.Log = out[0].Event, out[0].Log
			text, err := json.Marshal(&doc)
			if err != nil {
				return fmt.Errorf("render %s payload as JSON: %w", doc.Format, err)
			}
			_, err = fmt.Fprintf(a.stdout, "%s\n", text)
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "format of a bare payload, e.g. broker-bin-v1, broker-json-v1, zeek-bin-serializer, zpipe-msgpack-v1")
	cmd.Flags().BoolVar(&hexIn, "hex", false, "read hex frames, one per line (the test vectors' layout)")
	return cmd
}

// readInput reads FILE, or standard input for "-" or no argument.
func (a *app) readInput(args []string) ([]byte, error) {
	if len(args) == 0 || args[0] == "-" {
		data, err := io.ReadAll(a.stdin)
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		return data, nil
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	return data, nil
}

// codecRegistry returns a registry of the codec plugins in the plugin
// directories, started when needed.
func (a *app) codecRegistry() (*registry.Registry, error) {
	logger, err := a.logger()
	if err != nil {
		return nil, err
	}
	sources, err := plugin.CodecSources(a.pluginDirs(), plugin.HostConfig{Logger: logger})
	if err != nil {
		logger.Warn("plugin directories could not all be read", "err", err.Error())
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("no codec plugins (zpipe-codec-*) found in %s", strings.Join(a.pluginDirs(), ", "))
	}
	return registry.New(logger, sources...), nil
}
