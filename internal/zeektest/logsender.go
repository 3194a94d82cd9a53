package zeektest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// ErrLogWriteDropped is returned when no logger connection could take a log
// batch: Zeek drops it with "Failed to send log write. HWM reached?".
//
//lint:ignore ST1005 the text is Zeek's own message, quoted as Zeek writes it
var ErrLogWriteDropped = errors.New("Failed to send log write. HWM reached?")

// LogSenderConfig configures a LogSender like Zeek's log PUSH socket.
type LogSenderConfig struct {
	// NodeID is frame 1 of every log-write message. Required.
	NodeID string
	// Endpoints are the loggers' PULL endpoints (connect_log_endpoints).
	Endpoints []string
	// SndHWM is log_sndhwm (default 1000; Unlimited for none).
	SndHWM int
	// Linger is linger_ms (default 500 ms).
	Linger time.Duration
	// Immediate is log_immediate (default false): queue only to completed
	// connections.
	Immediate bool
}

// LogSender sends log batches to loggers the way a Zeek node does: a PUSH
// socket connected to every logger, 4-frame log-write messages, sends that
// never wait. It is safe for concurrent use and runs no goroutine.
type LogSender struct {
	mu     sync.Mutex
	id     string
	zctx   *zmq.Context
	push   *zmq.Socket
	drops  int
	closed bool
}

// NewLogSender opens the PUSH socket and connects it to every endpoint.
func NewLogSender(cfg LogSenderConfig) (*LogSender, error) {
	if cfg.NodeID == "" {
		return nil, errors.New("log sender: node id is required")
	}
	if cfg.SndHWM == 0 {
		cfg.SndHWM = DefaultHWM
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	zctx, err := zmq.NewContext()
	if err != nil {
		return nil, fmt.Errorf("log sender: zmq context: %w", err)
	}
	push, err := zctx.NewSocket(zmq.PUSH)
	if err != nil {
		_ = zctx.Term()
		return nil, fmt.Errorf("log sender: push socket: %w", err)
	}
	fail := func(err error) (*LogSender, error) {
		_ = push.Close()
		_ = zctx.Term()
		return nil, fmt.Errorf("log sender: %w", err)
	}
	if err := push.SetSndhwm(hwm(cfg.SndHWM)); err != nil {
		return fail(fmt.Errorf("sndhwm: %w", err))
	}
	if err := push.SetLinger(cfg.Linger); err != nil {
		return fail(fmt.Errorf("linger: %w", err))
	}
	if err := push.SetImmediate(cfg.Immediate); err != nil {
		return fail(fmt.Errorf("immediate: %w", err))
	}
	for _, ep := range cfg.Endpoints {
		if err := push.Connect(ep); err != nil {
			return fail(fmt.Errorf("connect %s: %w", ep, err))
		}
	}
	return &LogSender{id: cfg.NodeID, zctx: zctx, push: push}, nil
}

// SendLogWrite sends one log batch: "log-write", node id,
// "zeek-bin-serializer", payload. It returns ErrLogWriteDropped when the
// batch could not be queued.
func (s *LogSender) SendLogWrite(payload []byte) error {
	return s.SendRaw([]byte(LogWriteTopic), []byte(s.id), []byte(FormatZeekBinSerializer), payload)
}

// SendRaw sends frames as one message, whatever their number and content.
func (s *LogSender) SendRaw(frames ...[]byte) error {
	if len(frames) == 0 {
		return errors.New("log sender: no frames")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("log sender: %w", ErrClosed)
	}
	_, err := s.push.SendMessageDontwait(frames)
	if isEAGAIN(err) {
		s.drops++
		return ErrLogWriteDropped
	}
	if err != nil {
		return fmt.Errorf("log sender: send: %w", err)
	}
	return nil
}

// Drops returns how many batches were dropped.
func (s *LogSender) Drops() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drops
}

// Close closes the socket; queued batches get up to the linger time to
// leave.
func (s *LogSender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.push.Close(); err != nil {
		_ = s.zctx.Term()
		return fmt.Errorf("log sender: close: %w", err)
	}
	if err := s.zctx.Term(); err != nil {
		return fmt.Errorf("log sender: terminate context: %w", err)
	}
	return nil
}
