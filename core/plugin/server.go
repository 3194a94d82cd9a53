package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/plugin/internal/wire"
	pb "github.com/zpipe/zpipe/core/plugin/proto/transportv1"
	"github.com/zpipe/zpipe/core/transport"
)

// Batch limits a plugin applies when a receive stream asks for none.
const (
	DefaultMaxMessages = 1024
	DefaultMaxBytes    = 1 << 20
)

// transportService serves the gRPC transport service from a transport.Server.
type transportService struct {
	pb.UnimplementedTransportServer
	impl transport.Server
}

// Describe implements pb.TransportServer.
func (s *transportService) Describe(ctx context.Context, _ *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	d, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := wire.DescriptionToProto(d)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return r, nil
}

// OpenSocket implements pb.TransportServer.
func (s *transportService) OpenSocket(ctx context.Context, r *pb.OpenSocketRequest) (*pb.OpenSocketResponse, error) {
	if r.GetId() == "" || r.GetKind() == "" {
		return nil, status.Error(codes.InvalidArgument, "open socket: id and kind are required")
	}
	spec := transport.SocketSpec{ID: r.GetId(), Kind: r.GetKind(), Config: r.GetConfigJson()}
	if err := s.impl.Open(ctx, spec); err != nil {
		return nil, toStatus(err)
	}
	return &pb.OpenSocketResponse{}, nil
}

// CloseSocket implements pb.TransportServer.
func (s *transportService) CloseSocket(ctx context.Context, r *pb.CloseSocketRequest) (*pb.CloseSocketResponse, error) {
	if err := s.impl.Close(ctx, r.GetId()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.CloseSocketResponse{}, nil
}

// StartLink implements pb.TransportServer.
func (s *transportService) StartLink(ctx context.Context, r *pb.StartLinkRequest) (*pb.StartLinkResponse, error) {
	if r.GetId() == "" || r.GetSource() == "" || len(r.GetSinks()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "start link: id, source and at least one sink are required")
	}
	spec := transport.LinkSpec{ID: r.GetId(), Source: r.GetSource(), Sinks: r.GetSinks(), TapSubscriptions: r.GetTapSubscriptions()}
	if err := s.impl.StartLink(ctx, spec); err != nil {
		return nil, toStatus(err)
	}
	return &pb.StartLinkResponse{}, nil
}

// StopLink implements pb.TransportServer.
func (s *transportService) StopLink(ctx context.Context, r *pb.StopLinkRequest) (*pb.StopLinkResponse, error) {
	if err := s.impl.StopLink(ctx, r.GetId()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.StopLinkResponse{}, nil
}

// Stats implements pb.TransportServer.
func (s *transportService) Stats(ctx context.Context, _ *pb.StatsRequest) (*pb.StatsResponse, error) {
	st, err := s.impl.Stats(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return wire.StatsToProto(st), nil
}

// ValidateSocket implements pb.TransportServer: transports that implement
// transport.Validator check the configuration; others answer Unimplemented.
func (s *transportService) ValidateSocket(ctx context.Context, r *pb.ValidateSocketRequest) (*pb.ValidateSocketResponse, error) {
	v, ok := s.impl.(transport.Validator)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "validate socket: this transport does not validate configurations ahead of opening")
	}
	res, err := v.Validate(ctx, r.GetKind(), r.GetConfigJson())
	if err != nil {
		return nil, toStatus(err)
	}
	return wire.ValidationToProto(res), nil
}

// credit counts the batches a receive stream may still send.
type credit struct {
	n    atomic.Int64
	more chan struct{}
}

func newCredit() *credit { return &credit{more: make(chan struct{}, 1)} }

func (c *credit) add(n uint32) {
	if n == 0 {
		return
	}
	c.n.Add(int64(n))
	select {
	case c.more <- struct{}{}:
	default:
	}
}

// take waits for one credit; false when ctx ended first.
func (c *credit) take(ctx context.Context) bool {
	for {
		if c.n.Load() > 0 {
			c.n.Add(-1)
			return true
		}
		select {
		case <-c.more:
		case <-ctx.Done():
			return false
		}
	}
}

// Receive implements pb.TransportServer. The first request names the handle
// and the limits; every request grants credit. One credit lets the loop read
// one batch from the socket and send it; without credit it does not touch
// the socket, so the socket's receive high-water mark pushes back to peers.
//
// A request with drain set ends the stream gracefully. If the transport
// implements transport.Quiescer, the socket stops taking in new data and
// the loop goes on until it has delivered everything the socket's peers had
// sent (Recv returns transport.ErrDrained); otherwise the loop stops at once
// and what the socket holds stays there. The client closing its side ends
// the stream at once.
func (s *transportService) Receive(stream pb.Transport_ReceiveServer) error {
	first, err := stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	handle := first.GetHandle()
	if handle == "" {
		return status.Error(codes.InvalidArgument, "receive: the first request must name a socket or link")
	}
	lim := transport.Limits{MaxMessages: int(first.GetMaxMessages()), MaxBytes: int(first.GetMaxBytes())}
	if lim.MaxMessages <= 0 {
		lim.MaxMessages = DefaultMaxMessages
	}
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultMaxBytes
	}

	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	// recvCtx bounds one wait for data; a drain request ends it, so that
	// a Recv waiting on an idle socket returns and the drain can start.
	drain := make(chan struct{})
	var drainOnce sync.Once
	startDrain := func() { drainOnce.Do(func() { close(drain) }) }
	if first.GetDrain() {
		startDrain()
	}
	cr := newCredit()
	cr.add(first.GetCredit())
	// The credit reader ends when the stream does: gRPC fails its Recv once
	// this handler returns.
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				cancel()
				return
			}
			if req.GetDrain() {
				startDrain()
			}
			cr.add(req.GetCredit())
		}
	}()

	// Until the drain starts, reads wait under waitCtx, which a drain
	// request ends, so that a Recv waiting on an idle socket returns.
	waitCtx, endWait := context.WithCancelCause(ctx)
	defer endWait(nil)
	go func() {
		select {
		case <-drain:
			endWait(errDrainRequested)
		case <-waitCtx.Done():
		}
	}()
	quiescer, canQuiesce := s.impl.(transport.Quiescer)
	draining := false
	var b message.Batch
	var out pb.Batch
	for cr.take(ctx) {
		if !draining {
			select {
			case <-drain:
				if !canQuiesce {
					return nil
				}
				if err := quiescer.Quiesce(ctx, handle); err != nil {
					if errors.Is(err, errors.ErrUnsupported) {
						return nil // this socket cannot drain: stop reading
					}
					return toStatus(fmt.Errorf("drain %q: %w", handle, err))
				}
				draining = true
			default:
			}
		}
		b.Reset()
		rctx := waitCtx
		if draining {
			rctx = ctx
		}
		err := s.impl.Recv(rctx, handle, &b, lim)
		if err != nil && !draining && ctx.Err() == nil && context.Cause(waitCtx) == errDrainRequested {
			err = errDrainRequested
		}
		switch {
		case errors.Is(err, transport.ErrDrained) && b.Len() == 0:
			return nil
		case errors.Is(err, transport.ErrClosed) && b.Len() == 0:
			return nil
		case ctx.Err() != nil && b.Len() == 0:
			return nil
		case err != nil && b.Len() == 0 && !errors.Is(err, errDrainRequested):
			return toStatus(err)
		}
		if b.Len() == 0 {
			// Nothing read; the credit is still owed.
			cr.add(1)
			continue
		}
		wire.BatchToProto(&out, &b)
		// SendMsg encodes the batch before it returns, so b's buffers can be
		// reused for the next read.
		if err := stream.Send(&out); err != nil {
			return err
		}
		if errors.Is(err, transport.ErrDrained) {
			return nil
		}
	}
	return nil
}

// errDrainRequested ends a wait for data when a drain is asked for.
var errDrainRequested = errors.New("drain requested")

// Send implements pb.TransportServer. The first request names the socket;
// every request's batch is validated, written and acknowledged.
func (s *transportService) Send(stream pb.Transport_SendServer) error {
	ctx := stream.Context()
	var handle string
	var b message.Batch
	for n := 0; ; n++ {
		req, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if n == 0 {
			handle = req.GetHandle()
			if handle == "" {
				return status.Error(codes.InvalidArgument, "send: the first request must name a socket")
			}
		}
		if req.GetBatch() == nil {
			if n == 0 {
				continue
			}
			return status.Errorf(codes.InvalidArgument, "send to %q: request %d carries no batch", handle, n)
		}
		if err := wire.BatchFromProto(&b, req.GetBatch()); err != nil {
			return status.Errorf(codes.InvalidArgument, "send to %q: request %d: invalid %v", handle, n, err)
		}
		res, err := s.impl.Send(ctx, handle, &b)
		if err != nil {
			return toStatus(err)
		}
		if err := stream.Send(wire.AckFromSendResult(res)); err != nil {
			return err
		}
	}
}
