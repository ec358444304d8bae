package eventlog

import (
	"os"
	"syscall"
)

// DataSync calls fdatasync(2).
func (f osFile) DataSync() error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for serr = syscall.EINTR; serr == syscall.EINTR; {
			serr = syscall.Fdatasync(int(fd))
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
