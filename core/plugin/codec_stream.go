package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	cpb "github.com/zpipe/zpipe/core/plugin/proto/codecv1"
)

// Why a codec stream ended, as the calls in flight on it learn it.
var (
	errStreamAborted        = errors.New("the codec stream was torn down by a cancelled call")
	errStreamClosedByPlugin = errors.New("the plugin closed the codec stream")
)

// streamEnd is the error the calls in flight on an ended stream get. retry:
// send again on a new stream of the same plugin; lost: the plugin went
// away; neither: the call fails with err.
type streamEnd struct {
	retry, lost bool
	err         error
}

func (e *streamEnd) Error() string { return e.err.Error() }
func (e *streamEnd) Unwrap() error { return e.err }

// codecStream is one Decode or Encode stream shared by concurrent calls.
// Each call sends its request and waits for the response with its id; at
// most cap(slots) requests are in flight. A response reader, owned by the
// host, delivers responses and frees slots.
type codecStream struct {
	stream grpc.BidiStreamingClient[cpb.CodecRequest, cpb.CodecResponse]
	cancel context.CancelFunc
	// slots holds one token per request in flight.
	slots chan struct{}
	// sendMu serializes Send, which gRPC does not allow concurrently.
	sendMu sync.Mutex
	done   chan struct{} // closed when the stream has ended

	mu      sync.Mutex
	calls   map[uint64]chan callResult // by request id; nil channel: the caller gave up
	ended   *streamEnd
	aborted bool
}

// callResult is the outcome of one request.
type callResult struct {
	resp *cpb.CodecResponse
	err  error
}

func newCodecStream(stream grpc.BidiStreamingClient[cpb.CodecRequest, cpb.CodecResponse], cancel context.CancelFunc, window int) *codecStream {
	return &codecStream{
		stream: stream,
		cancel: cancel,
		slots:  make(chan struct{}, window),
		done:   make(chan struct{}),
		calls:  make(map[uint64]chan callResult),
	}
}

// abort tears the stream down on behalf of a call whose context ended while
// its request was being written.
func (st *codecStream) abort() {
	st.mu.Lock()
	st.aborted = true
	st.mu.Unlock()
	st.cancel()
}

func (st *codecStream) wasAborted() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.aborted
}

// roundTrip sends req and waits for its response. If ctx ends first the
// call gives up; its slot is freed when the response arrives.
func (st *codecStream) roundTrip(ctx context.Context, req *cpb.CodecRequest) (*cpb.CodecResponse, error) {
	select {
	case st.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-st.done:
		return nil, st.endErr()
	}
	ch := make(chan callResult, 1)
	st.mu.Lock()
	if st.ended != nil {
		st.mu.Unlock()
		<-st.slots
		return nil, st.ended
	}
	if _, dup := st.calls[req.Id]; dup {
		st.mu.Unlock()
		<-st.slots
		return nil, fmt.Errorf("request id %d is already in flight", req.Id)
	}
	st.calls[req.Id] = ch
	st.mu.Unlock()

	st.sendMu.Lock()
	// SendMsg may block on gRPC flow control; if ctx ends meanwhile the
	// stream is torn down and the other calls on it are sent again.
	stop := context.AfterFunc(ctx, st.abort)
	err := st.stream.Send(req)
	stop()
	st.sendMu.Unlock()
	// A failed Send means the stream ended; the reader reports why to every
	// call in flight, this one included.
	_ = err

	select {
	case r := <-ch:
		return r.resp, r.err
	case <-ctx.Done():
		st.mu.Lock()
		if _, ok := st.calls[req.Id]; ok {
			st.calls[req.Id] = nil
		}
		st.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (st *codecStream) endErr() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ended == nil {
		return &streamEnd{retry: true, err: errStreamAborted}
	}
	return st.ended
}

// readResponses delivers every response to its call until the stream ends,
// then fails the calls still in flight with what classify makes of the
// end.
func (st *codecStream) readResponses(classify func(error) *streamEnd) {
	defer st.cancel()
	var end error
	for {
		resp := &cpb.CodecResponse{}
		if err := st.stream.RecvMsg(resp); err != nil {
			if errors.Is(err, io.EOF) {
				err = errStreamClosedByPlugin
			}
			end = err
			break
		}
		st.mu.Lock()
		ch, ok := st.calls[resp.GetId()]
		if ok {
			delete(st.calls, resp.GetId())
		}
		st.mu.Unlock()
		if !ok {
			end = fmt.Errorf("plugin answered request %d, which is not in flight", resp.GetId())
			st.cancel()
			break
		}
		<-st.slots
		if ch != nil {
			ch <- callResult{resp: resp}
		}
	}
	e := classify(end)
	st.mu.Lock()
	st.ended = e
	calls := st.calls
	st.calls = make(map[uint64]chan callResult)
	st.mu.Unlock()
	close(st.done)
	for _, ch := range calls {
		<-st.slots
		if ch != nil {
			ch <- callResult{err: e}
		}
	}
}

// codesOf converts a status code received as a number.
func codesOf(n uint32) codes.Code {
	if n > uint32(codes.Unauthenticated) {
		return codes.Unknown
	}
	return codes.Code(n)
}
