package plugin

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal asks the kernel to kill the plugin when zpipe dies,
// even by SIGKILL, so no plugin outlives the process that started it.
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
