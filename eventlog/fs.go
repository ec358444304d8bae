package eventlog

import (
	"io"
	"os"
	"path/filepath"
	"slices"
)

// FS is the part of the file system a Log uses. It exists so tests can inject
// faults (a full disk, a failing fsync); OSFS is the real one.
type FS interface {
	// OpenFile is os.OpenFile. The Log also opens directories (O_RDONLY) to
	// fsync them after creating or removing a segment.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	ReadDir(name string) ([]os.DirEntry, error)
	MkdirAll(path string, perm os.FileMode) error
}

// File is an open file of an FS. A Log writes, seeks and truncates each File
// from one goroutine; under SyncAlways it also fsyncs a segment through other
// Files of it (opened O_RDONLY) while it writes.
type File interface {
	io.Writer
	io.Seeker
	io.Closer
	Sync() error
	Truncate(size int64) error
}

// DataSyncer is a File that can flush its data and only the metadata needed
// to read it back (fdatasync(2)), skipping timestamps: a log batch's fsync
// then commits no inode change when the batch went into preallocated space.
type DataSyncer interface {
	DataSync() error
}

// DataSync flushes f with DataSync if it has one, else with Sync.
func DataSync(f File) error {
	if d, ok := f.(DataSyncer); ok {
		return d.DataSync()
	}
	return f.Sync()
}

// OSFS is the operating system's file system.
type OSFS struct{}

// OpenFile calls os.OpenFile. Its files are DataSyncers.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // not a typed nil *os.File inside the interface
	}
	return osFile{f}, nil
}

type osFile struct{ *os.File }

// Remove calls os.Remove.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// ReadDir calls os.ReadDir.
func (OSFS) ReadDir(name string) ([]os.DirEntry, error) { return os.ReadDir(name) }

// MkdirAll calls os.MkdirAll.
func (OSFS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }

// listSegments returns the segment numbers in dir, ascending.
func listSegments(fsys FS, dir string) ([]uint64, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []uint64
	for _, e := range entries {
		if n, ok := ParseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			segs = append(segs, n)
		}
	}
	slices.Sort(segs)
	return segs, nil
}

// syncDir makes file creations and removals in dir durable.
func syncDir(fsys FS, dir string) error {
	d, err := fsys.OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func segmentPath(dir string, n uint64) string { return filepath.Join(dir, SegmentName(n)) }
