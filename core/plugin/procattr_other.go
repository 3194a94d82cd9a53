//go:build !linux

package plugin

import "os/exec"

// setParentDeathSignal is a no-op where the kernel offers no parent-death
// signal; the plugin's own parent watch ends it instead.
func setParentDeathSignal(*exec.Cmd) {}
