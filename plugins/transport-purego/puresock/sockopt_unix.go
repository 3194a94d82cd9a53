//go:build unix

package puresock

import "syscall"

// setBuffers sets SO_SNDBUF and SO_RCVBUF on fd; negative sizes are left
// alone.
func setBuffers(fd uintptr, sndbuf, rcvbuf int) error {
	if sndbuf >= 0 {
		if err := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, sndbuf); err != nil {
			return err
		}
	}
	if rcvbuf >= 0 {
		if err := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf); err != nil {
			return err
		}
	}
	return nil
}
