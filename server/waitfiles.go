package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
// Each holds one decimal number and a newline, like DIR/origin (readUintFile): the floor, or
// the clock when the wait began. Both are replaced atomically (writeFileSync), so a damaged
// one is more than a crash leaves: a start refuses it, naming the file, instead of guessing a
// clock.
const (
	waitingFile = "waiting"
	tockFile    = "tock"
)

// loadWait reads the wait's files at a start: the floor raises the restored node's clock, and
// the marker tells whether the last run may have ended while it waited.
func (st *store) loadWait(n *node.Node) error {
	floor, ok, err := readUintFile(st.dir, tockFile, node.MaxPlausible)
	if err != nil {
		return err
	}
	if ok {
		n.SeeTock(floor)
		st.floor = floor
	}
	_, marked, err := readUintFile(st.dir, waitingFile, node.MaxPlausible)
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
	if err := writeUintFile(st.dir, waitingFile, tock); err != nil {
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
		if err := writeUintFile(st.dir, tockFile, tock); err != nil {
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
