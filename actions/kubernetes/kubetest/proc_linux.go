package kubetest

import "syscall"

// sysProcAttr makes the kernel kill kube-apiserver when the test process
// dies, so a crashed test leaves no server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
