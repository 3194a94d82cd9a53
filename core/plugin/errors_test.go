package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/zpipe/zpipe/core/transport"
)

func TestErrorsSurviveTheStatusRoundTrip(t *testing.T) {
	t.Parallel()
	for _, sentinel := range []error{
		ErrNotFound, ErrInvalidArgument, ErrAlreadyExists, transport.ErrClosed,
		errors.ErrUnsupported, context.Canceled, context.DeadlineExceeded,
	} {
		plugErr := fmt.Errorf("socket %q: %w", "xpub", sentinel)
		got := fromStatus(toStatus(plugErr))
		if !errors.Is(got, sentinel) {
			t.Errorf("%v: errors.Is lost after the round trip (%v)", sentinel, got)
		}
		if got.Error() != plugErr.Error() {
			t.Errorf("message %q became %q", plugErr, got)
		}
		if isUnavailable(got) {
			t.Errorf("%v reads as an unreachable plugin", sentinel)
		}
	}
	plain := fromStatus(toStatus(errors.New("bind tcp://*:5555: address in use")))
	var re *RemoteError
	if !errors.As(plain, &re) || re.Code != codes.Unknown || re.Error() != "bind tcp://*:5555: address in use" || errors.Unwrap(plain) != nil {
		t.Errorf("plain error: %#v", plain)
	}
	if toStatus(nil) != nil || fromStatus(nil) != nil {
		t.Error("nil errors are not nil")
	}
	if fromStatus(io.EOF) != io.EOF {
		t.Error("io.EOF was converted")
	}
	if !isUnavailable(status.Error(codes.Unavailable, "connection reset")) || !isUnavailable(fromStatus(status.Error(codes.Unavailable, "x"))) {
		t.Error("Unavailable not recognised")
	}
}
