package plugin

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/zpipe/zpipe/core/transport"
)

// Errors a plugin wraps (fmt.Errorf("socket %q: %w", id, plugin.ErrNotFound))
// so that the host sees what kind of failure happened. They cross the
// process boundary as gRPC status codes; on the host side errors.Is matches
// them again, and the plugin's message is kept intact.
var (
	// ErrNotFound: an unknown socket or link handle.
	ErrNotFound = errors.New("not found")
	// ErrInvalidArgument: bad socket config, unknown kind, wrong role, …
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrAlreadyExists: a socket or link id that is already in use.
	ErrAlreadyExists = errors.New("already exists")
)

// ErrHostClosed is returned by the calls of a TransportHost after Shutdown.
var ErrHostClosed = errors.New("plugin host closed")

// RemoteError is an error a plugin returned, as the host sees it. Its
// message is the plugin's; errors.Is matches the error the plugin wrapped
// (ErrNotFound, ErrInvalidArgument, ErrAlreadyExists, transport.ErrClosed,
// errors.ErrUnsupported, context.Canceled, context.DeadlineExceeded).
type RemoteError struct {
	Code    codes.Code
	Message string
}

// Error returns the plugin's message.
func (e *RemoteError) Error() string { return e.Message }

// Unwrap returns the error the status code stands for, or nil.
func (e *RemoteError) Unwrap() error {
	switch e.Code {
	case codes.NotFound:
		return ErrNotFound
	case codes.InvalidArgument:
		return ErrInvalidArgument
	case codes.AlreadyExists:
		return ErrAlreadyExists
	case codes.FailedPrecondition:
		return transport.ErrClosed
	case codes.Unimplemented:
		return errors.ErrUnsupported
	case codes.Canceled:
		return context.Canceled
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	}
	return nil
}

// statusCode is the gRPC code a plugin-side error travels as.
func statusCode(err error) codes.Code {
	switch {
	case errors.Is(err, ErrNotFound):
		return codes.NotFound
	case errors.Is(err, ErrInvalidArgument):
		return codes.InvalidArgument
	case errors.Is(err, ErrAlreadyExists):
		return codes.AlreadyExists
	case errors.Is(err, transport.ErrClosed):
		return codes.FailedPrecondition
	case errors.Is(err, errors.ErrUnsupported):
		return codes.Unimplemented
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	}
	return codes.Unknown
}

// toStatus turns an error of the transport implementation into a gRPC status
// error carrying its message. Codes the host reads as "the plugin went away"
// (Unavailable) are never produced here.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	return status.Error(statusCode(err), err.Error())
}

// fromStatus turns the error of a gRPC call into a RemoteError when it
// carries a status, and leaves other errors (io.EOF) alone.
func fromStatus(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	return &RemoteError{Code: s.Code(), Message: s.Message()}
}

// isUnavailable reports whether err says the plugin could not be reached:
// the process died or its connection broke.
func isUnavailable(err error) bool {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Code == codes.Unavailable
	}
	return status.Code(err) == codes.Unavailable
}
