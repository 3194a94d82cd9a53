package puretransport

import (
	"errors"
	"fmt"

	"github.com/zpipe/zpipe/core/plugin"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/plugins/transport-purego/puresock"
)

// classified is an error that also matches one of the plugin SDK's
// sentinels (plugin.ErrNotFound, …) without changing its message, so the
// host learns what kind of failure it was.
type classified struct {
	err, kind error
}

func (c classified) Error() string   { return c.err.Error() }
func (c classified) Unwrap() []error { return []error{c.err, c.kind} }

func classify(kind error, format string, args ...any) error {
	return classified{err: fmt.Errorf(format, args...), kind: kind}
}

func errInvalid(format string, args ...any) error {
	return classify(plugin.ErrInvalidArgument, format, args...)
}

func errNotFound(format string, args ...any) error {
	return classify(plugin.ErrNotFound, format, args...)
}

func errExists(format string, args ...any) error {
	return classify(plugin.ErrAlreadyExists, format, args...)
}

// toTransportErr maps the socket layer's closed error to the contract's.
func toTransportErr(err error) error {
	if errors.Is(err, puresock.ErrClosed) {
		return transport.ErrClosed
	}
	return err
}
