package plugin

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/codec/zeekascii"
	cpb "github.com/zpipe/zpipe/core/plugin/proto/codecv1"
)

// TestCodecRenderMatchesInProcess renders generated log batches through
// the plugin and in process, into Zeek's TSV and JSON lines: lines, logs
// and schemas are identical.
func TestCodecRenderMatchesInProcess(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startCodecHost(t, HostConfig{})
	local := localCodec(t)
	in := generatedPayloads(t, 12, 300)[codec.FormatZeekLog]
	for _, target := range []string{zeekascii.Format, jsonl.Format} {
		var viaPlugin, inProcess batch.RenderResult
		if err := h.Render(ctx, codec.FormatZeekLog, target, in, &viaPlugin); err != nil {
			t.Fatal(err)
		}
		if err := local.Render(ctx, codec.FormatZeekLog, target, in, &inProcess); err != nil {
			t.Fatal(err)
		}
		if len(viaPlugin.Errors) != 0 || !bytes.Equal(viaPlugin.Lines.Data, inProcess.Lines.Data) ||
			!reflect.DeepEqual(viaPlugin.Lines.Sizes, inProcess.Lines.Sizes) {
			t.Fatalf("%s: lines differ (errors %v)", target, viaPlugin.Errors)
		}
		if !reflect.DeepEqual(viaPlugin.Logs, inProcess.Logs) {
			t.Fatalf("%s: logs differ:\n%+v\n%+v", target, viaPlugin.Logs, inProcess.Logs)
		}
		if !reflect.DeepEqual(viaPlugin.Schemas, inProcess.Schemas) {
			t.Fatalf("%s: schemas differ", target)
		}
	}
}

// TestCodecRenderErrors: malformed payloads fail alone, with their
// offsets; a target or format the plugin does not render fails the call,
// and the stream goes on.
func TestCodecRenderErrors(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startCodecHost(t, HostConfig{})
	good := generatedPayloads(t, 13, 1)[codec.FormatZeekLog].Slices()[0]
	var out batch.RenderResult
	if err := h.Render(ctx, codec.FormatZeekLog, zeekascii.Format, itemsOf(good, good[:7], good), &out); err != nil {
		t.Fatal(err)
	}
	if e := out.Err(1); len(out.Errors) != 1 || e == nil || e.Offset != 4 || !strings.Contains(e.Msg, "zeeklog: offset 4: want") {
		t.Fatalf("errors %+v", out.Errors)
	}
	lines := out.Lines.Slices()
	if len(lines[0]) == 0 || !bytes.Equal(lines[0], lines[2]) || len(lines[1]) != 0 || out.Logs[1] != (batch.RenderedLog{}) {
		t.Fatalf("lines %q, logs %+v", lines, out.Logs)
	}
	err := h.Render(ctx, codec.FormatZeekLog, "zeek-xml", itemsOf(good), &out)
	if !errors.Is(err, batch.ErrUnsupported) || !strings.Contains(err.Error(), `render "zeek-bin-serializer"`) {
		t.Fatalf("unknown target: %v", err)
	}
	if err := h.Render(ctx, codec.FormatBrokerBin, zeekascii.Format, itemsOf(good), &out); !errors.Is(err, batch.ErrUnsupported) {
		t.Fatalf("events: %v", err)
	}
	if err := h.Render(ctx, "zeek-bin-v9", zeekascii.Format, itemsOf(good), &out); !errors.Is(err, batch.ErrUnknownFormat) {
		t.Fatalf("unknown format: %v", err)
	}
	if err := h.Render(ctx, codec.FormatZeekLog, jsonl.Format, itemsOf(good), &out); err != nil || out.Logs[0].Records == 0 {
		t.Fatalf("after errors: %+v, %v", out.Logs, err)
	}
}

// TestCodecRenderResponseChecks: a response that does not answer the
// request (logs, lines and records that disagree, schemas that do not
// exist) is refused.
func TestCodecRenderResponseChecks(t *testing.T) {
	var r batch.RenderResult
	schema := []*cpb.LogSchema{{Fields: []*cpb.LogField{{Name: []byte("x"), Type: 3}}}}
	for _, c := range []struct {
		resp *cpb.CodecResponse
		want string
	}{
		{&cpb.CodecResponse{Items: &cpb.Items{Data: []byte("1\n"), Sizes: []uint32{2}}, Schemas: schema}, "0 logs for 1 inputs"},
		{&cpb.CodecResponse{Items: &cpb.Items{Data: []byte("1\n"), Sizes: []uint32{2}}, Logs: []*cpb.RenderedLog{{Records: 2}}, Schemas: schema}, "1 lines for 2 records"},
		{&cpb.CodecResponse{Items: &cpb.Items{Data: []byte("1\n2"), Sizes: []uint32{3}}, Logs: []*cpb.RenderedLog{{Records: 1}}, Schemas: schema}, "-1 lines for 1 records"},
		{&cpb.CodecResponse{Items: &cpb.Items{Data: []byte("1\n"), Sizes: []uint32{2}}, Logs: []*cpb.RenderedLog{{Records: 1, Schema: 1}}, Schemas: schema}, "refers to schema 1 of 1"},
		{&cpb.CodecResponse{Items: &cpb.Items{Sizes: []uint32{0}}, Logs: []*cpb.RenderedLog{{}}, Errors: []*cpb.ItemError{{Index: 2}}}, "beyond the 1 inputs"},
	} {
		if err := renderResultFromProto(&r, c.resp, 1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
	ok := &cpb.CodecResponse{Items: &cpb.Items{Data: []byte("1\n"), Sizes: []uint32{2}}, Logs: []*cpb.RenderedLog{{Path: []byte("p"), Records: 1}}, Schemas: schema}
	if err := renderResultFromProto(&r, ok, 1); err != nil || r.Schemas[0][0].Name != "x" || r.Logs[0].Path != "p" {
		t.Fatalf("%+v, %v", r, err)
	}
}

// TestCodecServiceWithoutRenderer: a codec that does not implement
// batch.Renderer answers Render with Unimplemented.
func TestCodecServiceWithoutRenderer(t *testing.T) {
	s := &codecService{impl: decodeOnly{localCodec(t)}}
	err := s.Render(nil)
	if err == nil || !strings.Contains(err.Error(), "renders no format") || statusCode(fromStatus(err)) != 12 {
		t.Fatalf("render: %v", err)
	}
}

// decodeOnly hides every method of a codec but those of batch.Codec.
type decodeOnly struct{ c batch.Codec }

func (d decodeOnly) Describe(ctx context.Context) (*batch.Description, error) {
	return d.c.Describe(ctx)
}
func (d decodeOnly) Decode(ctx context.Context, f string, in *batch.Items, out *batch.Result) error {
	return d.c.Decode(ctx, f, in, out)
}
func (d decodeOnly) Encode(ctx context.Context, f string, in *batch.Items, out *batch.Result) error {
	return d.c.Encode(ctx, f, in, out)
}
