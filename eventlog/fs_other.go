//go:build !linux

package eventlog

// DataSync is a full fsync where the system has no fdatasync(2) that Go exposes.
func (f osFile) DataSync() error { return f.Sync() }
