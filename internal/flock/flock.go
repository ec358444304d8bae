// Package flock takes an exclusive, non-blocking lock on an open file: the lock a data
// directory's server holds, and the one a test holds on a port it picked. The kernel drops it
// when the process dies, so a crash never leaves a stale lock behind.
package flock

import (
	"errors"
	"os"
)

// ErrLocked is returned when another process (or another open file) holds the lock.
var ErrLocked = errors.New("locked by another process")

// TryLock locks f exclusively, or returns ErrLocked at once if another holds it. Closing f
// releases the lock.
func TryLock(f *os.File) error { return tryLock(f) }
