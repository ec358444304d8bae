package server

// DistKV's log {path, fetch}: a continuous change log written by the server into a file, in
// DistKV's msgpack stream format (docs/formats.md, "Client change logs"). Files go only into
// the directory the server was started with (--client-log-dir), under a plain file name, and
// an existing file is not replaced. One log runs per server, as in DistKV: starting another
// stops the old one once the new one is ready, and log without path stops it. The log
// outlives the connection that started it; it ends with the server.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// clientLog is the running log, if any.
type clientLog struct {
	mu  sync.Mutex
	cur *logRun
}

type logRun struct {
	name string
	stop chan struct{}
	done chan struct{}
}

// logFlushEvery: the buffer goes to the file after this many records or a second without
// changes, as DistKV's saver does.
const logFlushEvery = 100

func (s *Server) clientLogPath(name string) (string, error) {
	if s.cfg.ClientLogDir == "" {
		return "", fmt.Errorf("%w: log: the server was not started with --client-log-dir", clientproto.ErrBadRequest)
	}
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("%w: log: path must be a plain file name (it is created in the server's client log directory)", clientproto.ErrBadRequest)
	}
	return filepath.Join(s.cfg.ClientLogDir, name), nil
}

// startLog answers log. q.File is the file name ("" and no path: stop the running log).
func (c *conn) startLog(q *clientproto.Request) {
	s := c.s
	fail := func(err error) { c.send(errReply(q.Seq, err, s.tock())) }
	if len(c.rootNow()) > 0 {
		fail(fmt.Errorf("%w: log: a rooted client cannot log the whole tree", clientproto.ErrAuth))
		return
	}
	if !q.HasFile && !q.HasPath {
		s.stopLog(nil)
		c.send(clientproto.NewMsg(q.Seq).Bool("result", true).Uint("tock", s.tock()).Bytes())
		return
	}
	path, err := s.clientLogPath(q.File)
	if err != nil {
		fail(err)
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			fail(fmt.Errorf("%w: log: %s exists; it is not replaced", clientproto.ErrBadRequest, q.File))
		} else {
			fail(fmt.Errorf("%w: log: %v", clientproto.ErrUnavailable, err))
		}
		return
	}
	run := &logRun{name: q.File, stop: make(chan struct{}), done: make(chan struct{})}
	ready := make(chan error, 1)
	if !s.spawn(func() { s.runLog(f, run, q.Fetch, ready) }) {
		f.Close()
		fail(fmt.Errorf("%w: log: the server is stopping", clientproto.ErrUnavailable))
		return
	}
	if err := <-ready; err != nil {
		fail(fmt.Errorf("%w: log: %v", clientproto.ErrUnavailable, err))
		return
	}
	s.stopLog(run) // the old one goes once the new one is ready, as in DistKV
	c.send(clientproto.NewMsg(q.Seq).Bool("result", true).Uint("tock", s.tock()).Bytes())
}

// stopLog stops the running log unless it is keep, and makes keep the running one.
func (s *Server) stopLog(keep *logRun) {
	s.clog.mu.Lock()
	old := s.clog.cur
	s.clog.cur = keep
	s.clog.mu.Unlock()
	if old != nil && old != keep {
		close(old.stop)
		<-old.done
	}
}

// runLog writes the state record, the current entries if fetch, then every change until
// stopped. ready gets the outcome of the start.
func (s *Server) runLog(f *os.File, run *logRun, fetch bool, ready chan<- error) {
	defer close(run.done)
	w := bufio.NewWriterSize(f, 64<<10)
	closeFile := func() {
		if err := w.Flush(); err != nil {
			s.log.Warn("client log: write failed", "file", run.name, "err", err)
		}
		if err := f.Close(); err != nil {
			s.log.Warn("client log: close failed", "file", run.name, "err", err)
		}
	}
	wq, startTock, remove := s.addWatch(node.WatchSpec{MaxDepth: -1})
	defer remove()
	w.Write(s.getState(&clientproto.Request{Flags: map[string]bool{"nodes": true, "known": true}}))
	var sh shortener
	if fetch {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-run.stop:
			case <-s.closing:
			case <-ctx.Done():
			}
			cancel()
		}()
		var werr error
		s.walkChunks(ctx, nil, node.WalkOptions{MaxDepth: -1}, func(e node.Entry) bool {
			if e.Tock > startTock || isMeta(e.Path) {
				return true // newer changes come through the watch
			}
			_, werr = w.Write(sh.entryTo(&clientproto.Msg{}, e, node.MaxChain).Bytes())
			return werr == nil
		})
		cancel()
		if werr != nil {
			ready <- werr
			closeFile()
			return
		}
	}
	if err := w.Flush(); err != nil {
		ready <- err
		closeFile()
		return
	}
	ready <- nil
	s.log.Info("client log started", "file", run.name, "fetch", fetch)
	defer closeFile()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	pending := 0
	for {
		select {
		case ev := <-wq.ch:
			if isMeta(ev.Entry.Path) {
				continue // users and ACLs are not logged: they are the meta area's
			}
			if _, err := w.Write(logRecord(&sh, ev.Entry)); err != nil {
				s.log.Warn("client log: write failed; the log stops", "file", run.name, "err", err)
				return
			}
			if pending++; pending >= logFlushEvery {
				w.Flush()
				pending = 0
			}
		case <-t.C:
			if pending > 0 {
				w.Flush()
				pending = 0
			}
		case <-wq.overflow:
			why := "more changes pending than the watch queue holds"
			s.mu.Lock()
			if wq.reason != "" {
				why = wq.reason
			}
			s.mu.Unlock()
			s.log.Warn("client log: stopped, changes were lost", "file", run.name, "reason", why)
			w.Write((&clientproto.Msg{}).Str("error", "log stopped: "+why).Bytes())
			return
		case <-run.stop:
			// What was written before the stop is queued already (watches are fed under s.mu
			// as a write applies): it goes in.
			for len(wq.ch) > 0 {
				if ev := <-wq.ch; !isMeta(ev.Entry.Path) {
					w.Write(logRecord(&sh, ev.Entry))
				}
			}
			return
		case <-s.closing:
			return
		}
	}
}

// logRecord is one change as DistKV's saver writes it: {depth, path, node, tick, value?,
// tock}; a delete has no value.
func logRecord(sh *shortener, e node.Entry) []byte {
	m := sh.path(&clientproto.Msg{}, e.Path)
	if len(e.Chain) > 0 {
		m.Str("node", e.Chain[0].Origin).Uint("tick", e.Chain[0].Tick)
	}
	if e.Value != nil {
		m.Raw("value", e.Value)
	}
	return m.Uint("tock", e.Tock).Bytes()
}
