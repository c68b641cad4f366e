package driver

import "syscall"

// sysProcAttr makes the kernel kill a driver process if this process dies without stopping
// it (SIGKILL, a crash).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
