package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/plugin/internal/wire"
	pb "github.com/zpipe/zpipe/core/plugin/proto/transportv1"
	"github.com/zpipe/zpipe/core/transport"
)

// Receive implements transport.Client. It grants the plugin opts.Window
// batches of credit (DefaultWindow if zero) and one more each time fn
// returns, so at most a window of batches is buffered between the socket
// and fn. If the plugin restarts, Receive resumes on the new process; what
// the old one had read but not delivered is lost with it. Receive returns
// fn's error as is, ctx's error when ctx ends, and an error wrapping
// transport.ErrClosed when the socket is closed.
func (h *TransportHost) Receive(ctx context.Context, handle string, opts transport.ReceiveOptions, fn func(*message.Batch) error) error {
	window := opts.Window
	if window <= 0 {
		window = DefaultWindow
	}
	first := &pb.ReceiveRequest{
		Handle:      handle,
		Credit:      toU32(window),
		MaxMessages: toU32(opts.Limits.MaxMessages),
		MaxBytes:    toU32(opts.Limits.MaxBytes),
	}
	for {
		g, err := h.current(ctx)
		if err != nil {
			return h.receiveErr(ctx, handle, err)
		}
		lost, err := h.receiveFrom(ctx, g, first, opts.Drain, fn)
		if !lost {
			return h.receiveErr(ctx, handle, err)
		}
		if err := h.settle(ctx, g); err != nil {
			return h.receiveErr(ctx, handle, err)
		}
		h.log.Info("receive stream lost with the plugin; resuming on the next one", "handle", handle)
	}
}

// fnError marks an error returned by the consumer's function.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

func (h *TransportHost) receiveErr(ctx context.Context, handle string, err error) error {
	var fe fnError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return fe.err
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("%s: receive from %q: %w", h.name, handle, err)
}

// receiveFrom runs one receive stream on plugin g. lost reports that the
// stream broke because the plugin went away.
func (h *TransportHost) receiveFrom(ctx context.Context, g *generation, first *pb.ReceiveRequest, drain <-chan struct{}, fn func(*message.Batch) error) (lost bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := g.rpc.Receive(sctx)
	if err != nil {
		return isUnavailable(err), fromStatus(err)
	}
	// Sends (credit grants and the drain request) never overlap, as gRPC
	// requires. A drain asks the plugin to deliver what the socket holds
	// and end the stream; credit is still granted meanwhile.
	var sendMu sync.Mutex
	drained := false
	send := func(req *pb.ReceiveRequest) {
		sendMu.Lock()
		defer sendMu.Unlock()
		// A failed Send means the stream ended; RecvMsg reports why.
		_ = stream.Send(req)
	}
	send(first)
	if drain != nil {
		watchDone := make(chan struct{})
		defer close(watchDone)
		go func() {
			select {
			case <-drain:
				sendMu.Lock()
				drained = true
				_ = stream.Send(&pb.ReceiveRequest{Drain: true})
				sendMu.Unlock()
			case <-watchDone:
			}
		}()
	}
	grant := &pb.ReceiveRequest{Credit: 1}
	var in pb.Batch
	var b message.Batch
	for {
		if err := stream.RecvMsg(&in); err != nil {
			if errors.Is(err, io.EOF) {
				sendMu.Lock()
				wasDrained := drained
				sendMu.Unlock()
				if wasDrained {
					return false, nil
				}
				return false, transport.ErrClosed
			}
			return isUnavailable(err), fromStatus(err)
		}
		if err := wire.BatchFromProto(&b, &in); err != nil {
			return false, fmt.Errorf("plugin sent a malformed batch: %w", err)
		}
		if err := fn(&b); err != nil {
			return false, fnError{err}
		}
		send(grant)
	}
}

func toU32(n int) uint32 {
	switch {
	case n <= 0:
		return 0
	case n > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(n)
}
