package snapshot

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"

	"github.com/distkv/distkv/node"
)

// writeBuffer is the Writer's buffer: large enough that the file is written
// in big sequential chunks, small next to the snapshot itself.
const writeBuffer = 1 << 20

var errWriterDone = errors.New("snapshot: writer already committed or aborted")

// Writer writes one snapshot to a temporary file and renames it into place
// on Commit. It is not safe for concurrent use.
type Writer struct {
	fs         fileSystem
	f          file
	bw         *bufio.Writer
	dir        string
	tmp, final string
	crc        uint32 // of every byte written so far
	count      uint64 // entry records written
	buf        []byte // the record being encoded: length field, then payload
	err        error  // the first write error; the file is then useless
	done       bool   // Commit or Abort was called
}

// Create starts snapshot name (a file name, normally FileName(seq)) in the
// existing directory dir. It writes to "<name>.tmp", truncating a stale one
// left by a crash, and writes the header first. Commit replaces an existing
// file of the final name.
func Create(dir, name string, h Header) (*Writer, error) {
	return create(osFS{}, dir, name, h)
}

func create(fsys fileSystem, dir, name string, h Header) (*Writer, error) {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name || strings.HasSuffix(name, tmpSuffix) {
		return nil, fmt.Errorf("snapshot: invalid file name %q", name)
	}
	w := &Writer{fs: fsys, dir: dir, final: filepath.Join(dir, name)}
	w.tmp = w.final + tmpSuffix
	// Encode the header before touching the disk, so an oversized one
	// leaves nothing behind.
	w.buf = h.appendMsgpack(make([]byte, frameHeaderSize, 4096))
	if n := len(w.buf) - frameHeaderSize; n > MaxFrame {
		return nil, fmt.Errorf("snapshot: header of %d bytes exceeds the %d-byte record limit", n, MaxFrame)
	}
	f, err := fsys.OpenFile(w.tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	w.f, w.bw = f, bufio.NewWriterSize(f, writeBuffer)
	w.write(append([]byte(fileMagic), formatVersion))
	w.writeRecord()
	if w.err != nil {
		err := w.err
		_ = w.Abort() // the write error is the one to report
		return nil, err
	}
	return w, nil
}

// Add appends one entry: its current version as a node.Update, usually of a
// single op. It refuses an update a Reader would refuse (no origin, tick 0,
// a chain above node.MaxChain, a value that is not exactly one msgpack
// value, or an encoding above MaxFrame) without writing it, so the snapshot
// stays usable. After a write error every call returns that error.
func (w *Writer) Add(u *node.Update) error {
	if w.done {
		return errWriterDone
	}
	if w.err != nil {
		return w.err
	}
	if u == nil {
		return errors.New("snapshot: nil update")
	}
	w.buf = u.AppendMsgpack(w.buf[:frameHeaderSize])
	if n := len(w.buf) - frameHeaderSize; n > MaxFrame {
		w.buf = make([]byte, frameHeaderSize, 4096) // do not keep a buffer this big
		return fmt.Errorf("snapshot: update %v: %d bytes exceed the %d-byte record limit", u, n, MaxFrame)
	}
	if err := checkUpdate(u); err != nil {
		return err
	}
	w.writeRecord()
	if w.err != nil {
		return w.err
	}
	w.count++
	return nil
}

// checkUpdate refuses what the wire decoder refuses, so a snapshot never
// holds an entry that makes it unreadable.
func checkUpdate(u *node.Update) error {
	if u.Origin == "" || u.Tick == 0 {
		return fmt.Errorf("snapshot: invalid update %v: needs an origin and a tick", u)
	}
	for i := range u.Ops {
		op := &u.Ops[i]
		if len(op.Chain) > node.MaxChain {
			return fmt.Errorf("snapshot: update %v: op %d: chain of %d links", u, i, len(op.Chain))
		}
		if op.Delete || op.Value == nil {
			continue
		}
		r := node.NewReader(op.Value)
		if _, err := r.Raw(); err != nil || r.Len() != 0 {
			return fmt.Errorf("snapshot: update %v: op %d: value is not one msgpack value", u, i)
		}
	}
	return nil
}

// Count returns the number of entries added.
func (w *Writer) Count() uint64 { return w.count }

// Commit writes the trailer and makes the snapshot durable under its final
// name: flush, fsync the file, rename it atomically, fsync the directory.
// On failure the temporary file is removed and no final file is created,
// except that a failed directory fsync leaves a complete final file that
// may not survive a crash; either way the caller must treat the snapshot as
// not taken.
func (w *Writer) Commit() error {
	if w.done {
		return errWriterDone
	}
	w.done = true
	if w.err == nil {
		w.buf = appendTrailer(w.buf[:frameHeaderSize], trailer{count: w.count, crc: w.crc})
		w.writeRecord()
	}
	err := w.err
	if err == nil {
		err = w.bw.Flush()
	}
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = w.fs.Rename(w.tmp, w.final)
	}
	if err != nil {
		_ = w.fs.Remove(w.tmp) // best effort: the error to report is err
		return fmt.Errorf("snapshot: commit %s: %w", w.final, err)
	}
	if err := syncDir(w.fs, w.dir); err != nil {
		return fmt.Errorf("snapshot: commit %s: sync directory: %w", w.final, err)
	}
	return nil
}

// Abort discards the snapshot: it closes and removes the temporary file.
// After Commit it does nothing, so `defer w.Abort()` is the idiom.
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	_ = w.f.Close() // the file is being thrown away; only its removal matters
	if err := w.fs.Remove(w.tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("snapshot: abort: %w", err)
	}
	return nil
}

// writeRecord fills in the length of the record in w.buf and writes it.
func (w *Writer) writeRecord() {
	binary.BigEndian.PutUint32(w.buf, uint32(len(w.buf)-frameHeaderSize))
	w.write(w.buf)
}

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	w.crc = crc32.Update(w.crc, crcTable, b)
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("snapshot: write %s: %w", w.tmp, err)
	}
}
