//go:build unix

package filesink

import "syscall"

// nofileLimit returns the process's soft limit of open descriptors.
func nofileLimit() (uint64, bool) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, false
	}
	return lim.Cur, true
}
