//go:build !unix

package puresock

import "errors"

// setBuffers is not implemented outside Unix systems.
func setBuffers(fd uintptr, sndbuf, rcvbuf int) error {
	return errors.New("kernel socket buffer sizes are only supported on Unix systems")
}
