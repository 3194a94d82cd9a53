package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/zpipe/zpipe/core/codec/batch"
	cpb "github.com/zpipe/zpipe/core/plugin/proto/codecv1"
)

// ServeCodec serves impl as a zpipe codec plugin; it is all a codec
// plugin's main function does:
//
//	func main() {
//		codec, err := batch.NewLocal("mycodec", version, batch.EventHandler(mycodec.Codec{}, "…"))
//		if err != nil { … }
//		plugin.ServeCodec(codec)
//	}
//
// batch.Local turns a panic while decoding or encoding one payload into
// that payload's error, so a malformed payload cannot take the plugin down.
// Run by hand instead of by zpipe, the binary says what it is and exits
// with status 1; it exits when zpipe does.
func ServeCodec(impl batch.Codec) {
	exitUnlessStartedByZpipe("codec", CodecCookieValue)
	if impl == nil {
		fmt.Fprintln(os.Stderr, "zpipe plugin: ServeCodec called with a nil codec")
		os.Exit(1)
	}
	serve(CodecHandshake(), codecPluginSet(impl))
}

// codecService serves the gRPC codec service from a batch.Codec.
type codecService struct {
	cpb.UnimplementedCodecServer
	impl batch.Codec
}

// Describe implements cpb.CodecServer.
func (s *codecService) Describe(ctx context.Context, _ *cpb.DescribeRequest) (*cpb.DescribeResponse, error) {
	d, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, status.Error(codecStatusCode(err), err.Error())
	}
	if d == nil {
		return nil, status.Error(codes.Internal, "describe: codec returned no description")
	}
	return codecDescriptionToProto(d), nil
}

// Decode implements cpb.CodecServer.
func (s *codecService) Decode(stream cpb.Codec_DecodeServer) error {
	return serveStream(stream, s.batchOp(s.impl.Decode))
}

// Encode implements cpb.CodecServer.
func (s *codecService) Encode(stream cpb.Codec_EncodeServer) error {
	return serveStream(stream, s.batchOp(s.impl.Encode))
}

// Render implements cpb.CodecServer; it is unimplemented for codecs that
// render nothing.
func (s *codecService) Render(stream cpb.Codec_RenderServer) error {
	r, ok := s.impl.(batch.Renderer)
	if !ok {
		return status.Error(codes.Unimplemented, "render: the codec renders no format")
	}
	var out batch.RenderResult
	return serveStream(stream, func(ctx context.Context, req *cpb.CodecRequest, in *batch.Items, resp *cpb.CodecResponse) error {
		if err := r.Render(ctx, req.GetFormat(), req.GetTarget(), in, &out); err != nil {
			return err
		}
		renderResultToProto(resp, &out)
		return nil
	})
}

// batchOp turns Decode or Encode into a request handler.
func (s *codecService) batchOp(op func(context.Context, string, *batch.Items, *batch.Result) error) requestHandler {
	var out batch.Result
	return func(ctx context.Context, req *cpb.CodecRequest, in *batch.Items, resp *cpb.CodecResponse) error {
		if err := op(ctx, req.GetFormat(), in, &out); err != nil {
			return err
		}
		resultToProto(resp, &out)
		return nil
	}
}

// requestHandler answers one request of a stream, its items in in, by
// filling resp; an error fails the request as a whole.
type requestHandler func(ctx context.Context, req *cpb.CodecRequest, in *batch.Items, resp *cpb.CodecResponse) error

// serveStream answers every request of a stream in order. A request that
// fails as a whole is answered with its status; the stream goes on.
func serveStream(stream grpc.BidiStreamingServer[cpb.CodecRequest, cpb.CodecResponse], handle requestHandler) error {
	ctx := stream.Context()
	var in batch.Items
	resp := &cpb.CodecResponse{Items: &cpb.Items{}}
	for {
		req, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		resetResponse(resp, req.GetId())
		switch err := itemsFromProto(&in, req.GetItems()); {
		case err != nil:
			resp.Code, resp.Message = uint32(codes.InvalidArgument), fmt.Sprintf("request %d: %v", req.GetId(), err)
		default:
			if err := handle(ctx, req, &in, resp); err != nil {
				resetResponse(resp, req.GetId())
				resp.Code, resp.Message = uint32(codecStatusCode(err)), err.Error()
			}
		}
		// SendMsg encodes the response before it returns, so the handler's
		// buffers can be reused for the next request.
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// resetResponse empties resp for the answer to request id, keeping the
// capacity of its lists.
func resetResponse(resp *cpb.CodecResponse, id uint64) {
	resp.Id, resp.Code, resp.Message = id, 0, ""
	resp.Items.Data, resp.Items.Sizes, resp.Errors = nil, nil, resp.Errors[:0]
	resp.Logs, resp.Schemas = resp.Logs[:0], resp.Schemas[:0]
}
