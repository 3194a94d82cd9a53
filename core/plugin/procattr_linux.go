package plugin

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal asks the kernel to kill the plugin when zpipe dies,
// even by SIGKILL, so no plugin outlives the process that started it. The
// plugin also gets a process group of its own: a signal for zpipe's group
// (Ctrl-C at a terminal, kill -TERM -PGID) is zpipe's to handle, and zpipe
// stops its plugins once it has drained what they carry.
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Setpgid = true
}
