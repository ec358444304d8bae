package server

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/distkv/distkv/node"
)

// The wait's files in the data directory (alone.go; docs/formats.md, docs/housekeeping.md):
//
//	DIR/waiting  present while the node may not take writes on its own clock: from the start
//	             of a run after a graceful stop, or from the moment a wait begins, until the
//	             wait ends. A start that finds it after a crash waits again, by the rules of
//	             a graceful stop: the clock is as old as it was when the wait began.
//	DIR/tock     the clock the node learned when its last wait ended: a start raises its
//	             clock to it, so that a crash before the next write is durable cannot bring
//	             back the stale clock the wait was for.
//
// Each holds one line, "NAME VERSION VALUE CRC\n": the file's name, the format's version
// (1), a decimal value (a tock: the floor, or the clock when the wait began) and the CRC-32C
// of the bytes before the last space, as 8 hex digits. Both are replaced atomically
// (writeFileSync), so a damaged one is more than a crash leaves: a start refuses it, naming
// the file, instead of guessing a clock.
const (
	waitingFile = "waiting"
	tockFile    = "tock"

	waitVersion = 1
	// maxWaitRecord bounds what is read of either file: a line is at most 40 bytes.
	maxWaitRecord = 64
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// encodeWaitRecord returns the line DIR/name holds for v.
func encodeWaitRecord(name string, v uint64) string {
	body := fmt.Sprintf("%s %d %d", name, waitVersion, v)
	return fmt.Sprintf("%s %08x\n", body, crc32.Checksum([]byte(body), crc32c))
}

// decodeWaitRecord returns the value of the line b that DIR/name holds.
func decodeWaitRecord(name string, b []byte) (uint64, error) {
	if len(b) > maxWaitRecord {
		return 0, fmt.Errorf("more than %d bytes", maxWaitRecord)
	}
	line, ok := bytes.CutSuffix(b, []byte("\n"))
	if !ok {
		return 0, errors.New("truncated: no end of line")
	}
	f := strings.Split(string(line), " ")
	if len(f) != 4 || f[0] != name {
		return 0, fmt.Errorf("not a %s record: %q", name, line)
	}
	if f[1] != strconv.Itoa(waitVersion) {
		return 0, fmt.Errorf("version %q: this server reads version %d", f[1], waitVersion)
	}
	sum, err := strconv.ParseUint(f[3], 16, 32)
	if err != nil || len(f[3]) != 8 {
		return 0, fmt.Errorf("bad checksum %q", f[3])
	}
	body := line[:len(line)-len(f[3])-1]
	if got := crc32.Checksum(body, crc32c); got != uint32(sum) {
		return 0, fmt.Errorf("checksum %08x, want %08x: damaged", got, sum)
	}
	v, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil || v > node.MaxPlausible {
		return 0, fmt.Errorf("bad tock %q", f[2])
	}
	return v, nil
}

// readWaitRecord reads DIR/name; ok is false if there is none.
func readWaitRecord(dir, name string) (v uint64, ok bool, err error) {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("server: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxWaitRecord+1))
	if err != nil {
		return 0, false, fmt.Errorf("server: %w", err)
	}
	if v, err = decodeWaitRecord(name, b); err != nil {
		return 0, false, fmt.Errorf("server: %s: %w (docs/formats.md says what removing it does)", path, err)
	}
	return v, true, nil
}

// loadWait reads the wait's files at a start: the floor raises the restored node's clock, and
// the marker tells whether the last run may have ended while it waited.
func (st *store) loadWait(n *node.Node) error {
	floor, ok, err := readWaitRecord(st.dir, tockFile)
	if err != nil {
		return err
	}
	if ok {
		n.SeeTock(floor)
		st.floor = floor
	}
	_, marked, err := readWaitRecord(st.dir, waitingFile)
	st.marked.Store(marked)
	return err
}

// markWait writes DIR/waiting, durably, unless it is there: from now on a crash restarts the
// node waiting. tock is the clock it waits on.
func (st *store) markWait(tock uint64) error {
	st.waitMu.Lock()
	defer st.waitMu.Unlock()
	if st.marked.Load() {
		return nil
	}
	if err := writeFileSync(st.dir, waitingFile, encodeWaitRecord(waitingFile, tock)); err != nil {
		return fmt.Errorf("server: data dir: %w", err)
	}
	st.marked.Store(true)
	return nil
}

// endWait records the end of a wait before the node takes writes, in this order: the clock it
// learned first (DIR/tock, when above the floor on disk), so that no start, after a crash
// either, is below it; then DIR/waiting goes. On an error the wait must go on.
func (st *store) endWait(tock uint64) error {
	st.waitMu.Lock()
	defer st.waitMu.Unlock()
	if tock > st.floor {
		if err := writeFileSync(st.dir, tockFile, encodeWaitRecord(tockFile, tock)); err != nil {
			return fmt.Errorf("server: data dir: %w", err)
		}
		st.floor = tock
	}
	if !st.marked.Load() {
		return nil
	}
	if err := os.Remove(filepath.Join(st.dir, waitingFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("server: data dir: %w", err)
	}
	if err := syncDir(st.dir); err != nil {
		return fmt.Errorf("server: data dir: %w", err)
	}
	st.marked.Store(false)
	return nil
}
