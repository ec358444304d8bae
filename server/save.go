package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/snapshot"
)

// copyEntries adds every entry to w, a chunk at a time under the lock, so that writes go on
// meanwhile; stop (checked between chunks) cuts it short with errStopping.
func (s *Server) copyEntries(w *snapshot.Writer, stop func() bool) error {
	var after node.Path
	for {
		if stop() {
			return errStopping
		}
		var batch []*node.Update
		s.mu.Lock()
		after = s.node.Entries(after, 4096, func(u *node.Update) { batch = append(batch, u) })
		s.mu.Unlock()
		for _, u := range batch {
			if err := w.Add(u); err != nil {
				return err
			}
		}
		if after == nil {
			return nil
		}
	}
}

// save answers DistKV's save {path}: the whole tree, tombstones included, as a distkv snapshot
// file at path on the server (absolute; an existing file is not replaced), written as the
// data directory's snapshots are, and readable by `distkv snapshot` tools and a restore.
// DistKV's full flag is accepted and makes no difference.
func (s *Server) save(ctx context.Context, q *clientproto.Request) []byte {
	fail := func(err error) []byte { return errReply(q.Seq, err, s.tock()) }
	if q.File == "" || !filepath.IsAbs(q.File) {
		return fail(fmt.Errorf("%w: save needs path, an absolute file name on the server", clientproto.ErrBadRequest))
	}
	if _, err := os.Lstat(q.File); err == nil || !errors.Is(err, os.ErrNotExist) {
		return fail(fmt.Errorf("%w: save: %s exists or cannot be checked (%v); it is not replaced", clientproto.ErrBadRequest, q.File, err))
	}
	h := s.snapshotHeader(0) // no log segment: the file stands alone
	w, err := snapshot.Create(filepath.Dir(q.File), filepath.Base(q.File), h)
	if err != nil {
		return fail(fmt.Errorf("%w: save: %v", clientproto.ErrUnavailable, err))
	}
	defer w.Abort()
	if err := s.copyEntries(w, func() bool { return ctx.Err() != nil }); err != nil {
		return fail(fmt.Errorf("%w: save: %v", clientproto.ErrUnavailable, err))
	}
	if err := w.Commit(); err != nil {
		return fail(fmt.Errorf("%w: save: %v", clientproto.ErrUnavailable, err))
	}
	s.log.Info("saved", "path", q.File, "entries", w.Count())
	return clientproto.NewMsg(q.Seq).Bool("result", true).Uint("entries", w.Count()).Uint("tock", s.tock()).Bytes()
}
