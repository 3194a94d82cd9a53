package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/plugin/internal/wire"
	pb "github.com/zpipe/zpipe/core/plugin/proto/transportv1"
	"github.com/zpipe/zpipe/core/transport"
)

// Errors of a Sender whose stream is over.
var (
	errSenderClosed = errors.New("sender closed")
	errStreamEnded  = errors.New("the plugin ended the send stream")
)

// Sender implements transport.Client. ctx bounds the life of the send
// stream: when it ends, the stream ends. At most opts.Window batches
// (DefaultWindow if zero) are unacknowledged at a time. If the plugin
// restarts, the batches in flight are reported to opts.OnAck as dropped with
// reason DropPluginRestart and sending goes on with the new process. After
// the stream fails for another reason (unknown socket, socket closed), Send
// and Close return that error.
func (h *TransportHost) Sender(ctx context.Context, handle string, opts transport.SendOptions) (transport.Sender, error) {
	window := opts.Window
	if window <= 0 {
		window = DefaultWindow
	}
	s := &sender{
		h:      h,
		handle: handle,
		onAck:  opts.OnAck,
		life:   ctx,
		slots:  make(chan struct{}, window),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.stream(ctx); err != nil {
		return nil, s.wrap(err)
	}
	return s, nil
}

// sender is a transport.Sender on a TransportHost.
type sender struct {
	h      *TransportHost
	handle string
	onAck  func(transport.SendResult)
	life   context.Context
	// slots holds one token per unacknowledged batch.
	slots chan struct{}

	mu     sync.Mutex // serializes Send and Close
	cur    *sendStream
	closed bool
	failed error
}

// sendStream is one gRPC send stream, on one plugin process.
type sendStream struct {
	g      *generation
	stream grpc.BidiStreamingClient[pb.SendRequest, pb.SendAck]
	cancel context.CancelFunc
	named  bool          // the handle went out with the first request
	done   chan struct{} // closed when the acknowledgement reader is finished

	mu      sync.Mutex
	pending []int // message counts of unacknowledged batches, oldest first
	ended   bool
	lost    bool  // ended because the plugin went away
	aborted bool  // cancelled because a Send's context ended mid-write
	err     error // why it ended otherwise; nil after a clean end
}

// abort cancels the stream on behalf of a Send whose context ended while
// the batch was being written.
func (st *sendStream) abort() {
	st.mu.Lock()
	st.aborted = true
	st.mu.Unlock()
	st.cancel()
}

func (s *sender) wrap(err error) error {
	return fmt.Errorf("%s: send to %q: %w", s.h.name, s.handle, err)
}

// Send implements transport.Sender.
func (s *sender) Send(ctx context.Context, b *message.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.Validate(); err != nil {
		return s.wrap(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.wrap(errSenderClosed)
	}
	if s.failed != nil {
		return s.failed
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.life.Done():
		return s.wrap(s.life.Err())
	}
	for {
		st, err := s.stream(ctx)
		if err != nil {
			<-s.slots
			return s.wrap(err)
		}
		if st.enqueue(b.Len()) {
			req := &pb.SendRequest{Batch: &pb.Batch{}}
			wire.BatchToProto(req.Batch, b)
			if !st.named {
				req.Handle, st.named = s.handle, true
			}
			// SendMsg encodes the batch before it returns, so b may be
			// reused by the caller afterwards. It may block on gRPC flow
			// control; if ctx ends meanwhile the stream is torn down.
			stop := context.AfterFunc(ctx, st.abort)
			err := st.stream.Send(req)
			interrupted := !stop()
			if err == nil && !interrupted {
				return nil
			}
			// The stream ended; the acknowledgement reader has or will have
			// accounted for this batch with the others in flight.
			<-st.done
			s.cur = nil
			if interrupted {
				return ctx.Err()
			}
			if st.lost {
				return nil
			}
			s.failed = s.wrap(st.endErr())
			return s.failed
		}
		// The stream ended before this batch went out: the token is ours.
		<-st.done
		s.cur = nil
		if !st.lost && !st.aborted {
			<-s.slots
			s.failed = s.wrap(st.endErr())
			return s.failed
		}
	}
}

// stream returns the current stream, opening one on the running plugin if
// there is none (waiting while it restarts).
func (s *sender) stream(ctx context.Context) (*sendStream, error) {
	if s.cur != nil {
		return s.cur, nil
	}
	for {
		g, err := s.h.current(ctx)
		if err != nil {
			return nil, err
		}
		sctx, cancel := context.WithCancel(s.life)
		stream, err := g.rpc.Send(sctx)
		if err != nil {
			cancel()
			if isUnavailable(err) && ctx.Err() == nil && s.life.Err() == nil {
				if err := s.h.settle(ctx, g); err != nil {
					return nil, err
				}
				continue
			}
			return nil, fromStatus(err)
		}
		st := &sendStream{g: g, stream: stream, cancel: cancel, done: make(chan struct{})}
		go s.readAcks(st)
		s.cur = st
		return st, nil
	}
}

// enqueue records a batch of n messages as in flight; false once the stream
// has ended.
func (st *sendStream) enqueue(n int) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ended {
		return false
	}
	st.pending = append(st.pending, n)
	return true
}

func (st *sendStream) endErr() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err == nil {
		return errStreamEnded
	}
	return st.err
}

// readAcks reports every acknowledgement and frees its window slot. It runs
// for the life of one stream; the sender owns it and waits for it in Close.
func (s *sender) readAcks(st *sendStream) {
	defer close(st.done)
	defer st.cancel()
	for {
		ack, err := st.stream.Recv()
		if err != nil {
			s.end(st, err)
			return
		}
		st.mu.Lock()
		if len(st.pending) == 0 {
			st.mu.Unlock()
			s.end(st, errors.New("plugin acknowledged a batch that was never sent"))
			return
		}
		st.pending = st.pending[1:]
		st.mu.Unlock()
		if s.onAck != nil {
			s.onAck(wire.SendResultFromAck(ack))
		}
		<-s.slots
	}
}

// end records why st ended and reports its batches in flight as dropped.
func (s *sender) end(st *sendStream, err error) {
	st.mu.Lock()
	st.ended = true
	pending := st.pending
	st.pending = nil
	reason := DropStreamError
	switch {
	case errors.Is(err, io.EOF):
	case st.aborted:
	case s.life.Err() != nil:
		st.err = s.life.Err()
	case s.h.ctx.Err() != nil:
		st.err = ErrHostClosed
	case isUnavailable(err) || st.g.isDead():
		st.lost = true
		reason = DropPluginRestart
	default:
		st.err = fromStatus(err)
	}
	st.mu.Unlock()
	if st.lost && len(pending) > 0 {
		n := 0
		for _, p := range pending {
			n += p
		}
		s.h.log.Warn("send stream lost with the plugin", "handle", s.handle, "batches_dropped", len(pending), "messages_dropped", n)
	}
	for _, n := range pending {
		if s.onAck != nil {
			s.onAck(transport.SendResult{Dropped: n, DropReason: reason})
		}
		<-s.slots
	}
}

// Close implements transport.Sender: it waits until every batch is
// acknowledged (or reported dropped), then ends the stream.
func (s *sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	st := s.cur
	s.cur = nil
	if st == nil {
		return s.failed
	}
	// Holding every window slot means nothing is in flight.
	held := 0
	defer func() {
		for ; held > 0; held-- {
			<-s.slots
		}
	}()
wait:
	for held < cap(s.slots) {
		select {
		case s.slots <- struct{}{}:
			held++
		case <-s.life.Done():
			break wait
		case <-s.h.ctx.Done():
			break wait
		}
	}
	_ = st.stream.CloseSend()
	select {
	case <-st.done:
	case <-s.life.Done():
	case <-s.h.ctx.Done():
	}
	st.cancel()
	<-st.done
	if s.failed != nil {
		return s.failed
	}
	st.mu.Lock()
	err := st.err
	st.mu.Unlock()
	if err != nil && s.life.Err() == nil {
		return s.wrap(err)
	}
	return nil
}
