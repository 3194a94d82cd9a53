//go:build linux

package puresock

import (
	"net"
	"syscall"
)

// peerPID returns the process id of the peer of a Unix domain socket
// connection (SO_PEERCRED).
func peerPID(nc net.Conn) (int, bool) {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return 0, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || credErr != nil || cred.Pid <= 0 {
		return 0, false
	}
	return int(cred.Pid), true
}
