//go:build !unix

package filesink

// nofileLimit reports no limit of open descriptors where there is no
// RLIMIT_NOFILE.
func nofileLimit() (uint64, bool) { return 0, false }
