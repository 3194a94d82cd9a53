package plugin

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"google.golang.org/grpc/codes"

	"github.com/zpipe/zpipe/core/codec/batch"
	cpb "github.com/zpipe/zpipe/core/plugin/proto/codecv1"
	"github.com/zpipe/zpipe/core/value"
)

// codecDescriptionToProto encodes what a codec reports about itself.
func codecDescriptionToProto(d *batch.Description) *cpb.DescribeResponse {
	out := &cpb.DescribeResponse{Name: d.Name, Version: d.Version, Protocol: d.Protocol}
	if out.Protocol == 0 {
		out.Protocol = batch.ProtocolVersion
	}
	for _, f := range d.Formats {
		out.Formats = append(out.Formats, &cpb.Format{
			Name: f.Name, Kind: string(f.Kind), Decode: f.Decode, Encode: f.Encode, Description: f.Description, Renders: f.Renders,
		})
	}
	return out
}

// codecDescriptionFromProto decodes a codec plugin's self-description and
// checks it (see batch.Description.Check).
func codecDescriptionFromProto(plugin string, r *cpb.DescribeResponse) (*batch.Description, error) {
	if r.GetProtocol() != batch.ProtocolVersion {
		return nil, fmt.Errorf("codec plugin %q speaks codec protocol %d, this zpipe speaks %d",
			plugin, r.GetProtocol(), batch.ProtocolVersion)
	}
	d := &batch.Description{Name: r.GetName(), Version: r.GetVersion(), Protocol: r.GetProtocol()}
	for _, f := range r.GetFormats() {
		d.Formats = append(d.Formats, batch.Format{
			Name: f.GetName(), Kind: batch.Kind(f.GetKind()), Decode: f.GetDecode(), Encode: f.GetEncode(), Description: f.GetDescription(),
			Renders: f.GetRenders(),
		})
	}
	if err := d.Check(); err != nil {
		return nil, fmt.Errorf("codec plugin %q: %w", plugin, err)
	}
	return d, nil
}

// itemsToProto points dst at the buffers of it without copying them.
func itemsToProto(dst *cpb.Items, it *batch.Items) {
	dst.Data, dst.Sizes = it.Data, it.Sizes
}

// itemsFromProto points dst at the buffers of src without copying them and
// validates the result, since src came from another process.
func itemsFromProto(dst *batch.Items, src *cpb.Items) error {
	dst.Data, dst.Sizes = src.GetData(), src.GetSizes()
	return dst.Validate()
}

// resultToProto fills resp with r, aliasing r's buffers.
func resultToProto(resp *cpb.CodecResponse, r *batch.Result) {
	if resp.Items == nil {
		resp.Items = &cpb.Items{}
	}
	itemsToProto(resp.Items, &r.Items)
	resp.Errors = resp.Errors[:0]
	for _, e := range r.Errors {
		resp.Errors = append(resp.Errors, &cpb.ItemError{Index: uint32(e.Index), Offset: int64(e.Offset), Message: e.Msg})
	}
}

// resultFromProto fills r with the answer to a batch of n items and checks
// it.
func resultFromProto(r *batch.Result, resp *cpb.CodecResponse, n int) error {
	r.Reset()
	r.Items.Data, r.Items.Sizes = resp.GetItems().GetData(), resp.GetItems().GetSizes()
	var err error
	if r.Errors, err = itemErrorsFromProto(r.Errors, resp.GetErrors()); err != nil {
		return err
	}
	return r.Check(n)
}

func itemErrorsFromProto(dst []batch.ItemError, errs []*cpb.ItemError) ([]batch.ItemError, error) {
	for _, e := range errs {
		off := e.GetOffset()
		if off < -1 || off > math.MaxInt32 {
			return dst, fmt.Errorf("result reports item %d failed at offset %d", e.GetIndex(), off)
		}
		dst = append(dst, batch.ItemError{Index: int(e.GetIndex()), Offset: int(off), Msg: e.GetMessage()})
	}
	return dst, nil
}

// renderResultToProto fills resp with r, aliasing r's line buffers and
// reusing the log entries resp holds.
func renderResultToProto(resp *cpb.CodecResponse, r *batch.RenderResult) {
	resultToProto(resp, &batch.Result{Items: r.Lines, Errors: r.Errors})
	logs := resp.Logs[:0]
	for _, l := range r.Logs {
		if len(logs) < cap(logs) {
			logs = logs[:len(logs)+1]
		} else {
			logs = append(logs, nil)
		}
		pl := logs[len(logs)-1]
		if pl == nil {
			pl = &cpb.RenderedLog{}
			logs[len(logs)-1] = pl
		}
		pl.Stream, pl.Path, pl.Records, pl.Schema = bytesOf(l.Stream), bytesOf(l.Path), uint32(l.Records), uint32(l.Schema)
	}
	resp.Logs = logs
	resp.Schemas = resp.Schemas[:0]
	for _, fields := range r.Schemas {
		s := &cpb.LogSchema{Fields: make([]*cpb.LogField, len(fields))}
		for i, f := range fields {
			s.Fields[i] = &cpb.LogField{
				Name: bytesOf(f.Name), Type: int32(f.Type.Tag), Sub: int32(f.Type.Sub), Optional: f.Optional,
				SecondaryName: bytesOf(f.SecondaryName), ValueSubtype: int32(f.ValueSubtype),
			}
		}
		resp.Schemas = append(resp.Schemas, s)
	}
}

// sameString returns prev if it holds the bytes of b, else b as a string.
func sameString(prev string, b []byte) string {
	if string(b) == prev {
		return prev
	}
	return string(b)
}

// bytesOf returns the bytes of s without copying them, for fields that
// are only marshaled: they must not be modified.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// renderResultFromProto fills r with the answer to a render request of n
// items and checks it.
func renderResultFromProto(r *batch.RenderResult, resp *cpb.CodecResponse, n int) error {
	r.Reset()
	r.Lines.Data, r.Lines.Sizes = resp.GetItems().GetData(), resp.GetItems().GetSizes()
	var err error
	if r.Errors, err = itemErrorsFromProto(r.Errors, resp.GetErrors()); err != nil {
		return err
	}
	var prev batch.RenderedLog
	for _, l := range resp.GetLogs() {
		if l.GetRecords() > math.MaxInt32 || l.GetSchema() > math.MaxInt32 {
			return fmt.Errorf("result reports a log of %d records and schema %d", l.GetRecords(), l.GetSchema())
		}
		// Consecutive logs mostly share stream and path.
		prev = batch.RenderedLog{Stream: sameString(prev.Stream, l.GetStream()), Path: sameString(prev.Path, l.GetPath()),
			Records: int(l.GetRecords()), Schema: int(l.GetSchema())}
		r.Logs = append(r.Logs, prev)
	}
	for _, s := range resp.GetSchemas() {
		fields := make([]value.Field, len(s.GetFields()))
		for i, f := range s.GetFields() {
			fields[i] = value.Field{
				Name: string(f.GetName()), Type: value.Type{Tag: value.TypeTag(f.GetType()), Sub: value.TypeTag(f.GetSub())}, Optional: f.GetOptional(),
				SecondaryName: string(f.GetSecondaryName()), ValueSubtype: value.TypeTag(f.GetValueSubtype()),
			}
		}
		r.Schemas = append(r.Schemas, fields)
	}
	return r.Check(n)
}

// codecStatusCode is the gRPC code a codec's failure of a whole request
// travels as: NotFound for an unknown format, Unimplemented for an
// operation the format does not offer, and as for transports otherwise.
func codecStatusCode(err error) codes.Code {
	if errors.Is(err, batch.ErrUnknownFormat) {
		return codes.NotFound
	}
	return statusCode(err)
}

// CodecError is a codec plugin's failure of a whole request, as the host
// sees it. errors.Is matches batch.ErrUnknownFormat, batch.ErrUnsupported
// and errors.ErrUnsupported as the plugin wrapped them, and the errors a
// RemoteError matches.
type CodecError struct {
	RemoteError
}

// Is reports whether the failure is the batch error target.
func (e *CodecError) Is(target error) bool {
	switch target {
	case batch.ErrUnknownFormat:
		return e.Code == codes.NotFound
	case batch.ErrUnsupported:
		return e.Code == codes.Unimplemented
	}
	return false
}
