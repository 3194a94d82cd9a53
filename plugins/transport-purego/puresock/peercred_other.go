//go:build !linux

package puresock

import "net"

// peerPID is only known on Linux.
func peerPID(net.Conn) (int, bool) { return 0, false }
