package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/zmsgpack"
)

func newEncodeCmd(a *app) *cobra.Command {
	var format string
	var hexOut bool
	cmd := &cobra.Command{
		Use:   "encode [--format NAME] [FILE|-]",
		Short: "Encode typed JSON (as 'zpipe decode' prints it) into a payload or a Zeek message",
		Long: `Encode reads the JSON that 'zpipe decode' prints and writes the payload it
describes, so that 'zpipe decode --hex | zpipe encode --hex' reproduces a
message byte for byte:

  {"format":"broker-bin-v1","event":{"name":"ping","args":[{"@type":"count","value":"1"}]}}

The input is FILE, or standard input when FILE is "-" or missing. The
format is the document's "format" or --format (which must agree when both
are given); it may differ from the format the JSON was decoded from, which
converts between formats (zpipe-jsonl-v1 renders JSON lines). A document
with "topic" or "sender" is a Zeek message and is written as its four
frames (topic, sender, format, payload); that needs --hex. Without them
the payload alone is written: raw bytes, or one hex line with --hex.

Payloads are encoded by the codec plugin that handles the format, found
like transports.

Exit status: 0 when encoded, 1 when the input does not encode, 2 for a
wrong command line.`,
		Args: argsUsage(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := a.readInput(args)
			if err != nil {
				return err
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			var doc codecDocument
			if err := dec.Decode(&doc); err != nil {
				return fmt.Errorf("input is not a document as 'zpipe decode' prints it: %w", err)
			}
			if _, err := dec.Token(); !errors.Is(err, io.EOF) {
				return errors.New("input holds more than one JSON document")
			}
			switch {
			case doc.Format == "" && format == "":
				return usageError{errors.New(`the document has no "format": name one with --format`)}
			case doc.Format != "" && format != "" && doc.Format != format:
				return fmt.Errorf("--format %q, but the document's format is %q", format, doc.Format)
			case format == "":
				format = doc.Format
			}
			if (doc.Event == nil) == (doc.Log == nil) {
				return errors.New(`the document must hold exactly one of "event" and "log"`)
			}
			var frames [][]byte
			if doc.isMessage() {
				if !hexOut {
					return errors.New("the document is a Zeek message (it has a topic or sender) of 4 frames: use --hex to write them")
				}
				frames = append(frames, frameOf(doc.Topic, doc.TopicBase64), frameOf(doc.Sender, doc.SenderBase64), []byte(format))
			}
			reg, err := a.codecRegistry()
			if err != nil {
				return err
			}
			defer reg.Close()
			out, err := reg.Encode(cmd.Context(), format, []zmsgpack.Document{{Event: doc.Event, Log: doc.Log}})
			if err != nil {
				return err
			}
			if err := out[0].Err; err != nil {
				var ie *batch.ItemError
				if errors.As(err, &ie) {
					return fmt.Errorf("the document does not encode as %s: %s", format, ie.Msg)
				}
				return fmt.Errorf("the document does not encode as %s: %w", format, err)
			}
			frames = append(frames, out[0].Payload)
			if !hexOut {
				_, err := a.stdout.Write(out[0].Payload)
				return err
			}
			var buf bytes.Buffer
			for i, f := range frames {
				if len(f) == 0 {
					return fmt.Errorf("frame %d is empty, which the hex layout (one frame per line) cannot show", i)
				}
				buf.WriteString(hex.EncodeToString(f))
				buf.WriteByte('\n')
			}
			_, err = a.stdout.Write(buf.Bytes())
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "format to encode into, when the document names none or to check the one it names")
	cmd.Flags().BoolVar(&hexOut, "hex", false, "write hex frames, one per line (the test vectors' layout)")
	return cmd
}
