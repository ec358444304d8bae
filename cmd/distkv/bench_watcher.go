package main

// With --visibility-watchers process, bench --visibility runs each node's watch in a child
// process of its own (the hidden command bench-watcher): in the process that runs 64 writers,
// the watch goroutines are scheduled too rarely, fall behind, and the server ends them (watch
// queue overflow). A child only connects, watches bench, timestamps each event and sends it
// to the parent on its stdout; the parent files the events as an inline watch would.
//
// Both processes measure times from one instant t0 that carries no monotonic clock reading
// (Go's monotonic clock is not comparable across processes): time.Since(t0) is then a wall
// clock difference in both, on the same host. The parent sends t0 as Unix nanoseconds.
//
// The child never blocks its watch on the pipe: events are appended to a buffer that a writer
// goroutine drains, so a parent slow to read costs the child memory, not the watch.
//
// Records on the child's stdout, integers as Go varints (binary.AppendUvarint/AppendVarint),
// byte strings as a uvarint length and the bytes:
//   'e' at (varint ns since t0), tock (uvarint), origin, path key, flags (a byte: 1 tagged,
//       2 versioned), writer (uvarint), seq (uvarint)
//   'x' closed (a byte: 1 if the connection was lost), text: the watch ended; last record.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
	"github.com/urfave/cli/v2"
)

// --visibility-watchers values.
const (
	watchersInline  = "inline"
	watchersProcess = "process"
)

// benchSelf is the executable the watcher children run; tests point it at their build.
var benchSelf = os.Executable

// watcherStopWait bounds how long stop waits for a child to flush and exit before killing it.
const watcherStopWait = 10 * time.Second

const (
	recEvent = 'e'
	recEnd   = 'x'

	flagTagged    = 1
	flagVersioned = 2
)

func (e *cliEnv) benchWatcherCommand() *cli.Command {
	return &cli.Command{
		Name:   "bench-watcher",
		Hidden: true,
		Usage:  "internal to bench --visibility-watchers process: watch bench on one node, events on stdout",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "addr", Required: true},
			&cli.Uint64Flag{Name: "run", Required: true, Usage: "the bench run's id (in every value's tag)"},
			&cli.Int64Flag{Name: "t0", Required: true, Usage: "times are since `UNIXNANO` (wall clock)"},
		}, clientTLSFlags()...),
		Action: e.benchWatcherAction,
	}
}

// benchWatcherAction is the child: it watches until its stdin ends (or the watch does).
func (e *cliEnv) benchWatcherAction(c *cli.Context) error {
	tc, err := clientTLS(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, e.in)
		cancel()
	}()
	v := &visibility{run: c.Uint64("run")}
	t0 := time.Unix(0, c.Int64("t0"))
	sink := newEventSink(e.out)
	werr := watchInto(ctx, c.String("addr"), tc, v, t0, sink)
	if werr != nil && ctx.Err() == nil {
		var ee *exitError
		closed := errors.Is(werr, clientproto.ErrClosed) || (errors.As(werr, &ee) && ee.code == exitConn)
		sink.end(closed, watchErrText(werr))
	}
	if err := sink.close(); err != nil {
		return fmt.Errorf("bench-watcher: writing events: %w", err)
	}
	return nil
}

// watchInto watches bench on addr and sends every event to sink until ctx ends.
func watchInto(ctx context.Context, addr string, tc *tls.Config, v *visibility, t0 time.Time, sink *eventSink) error {
	cl, err := connect(ctx, addr, tc, client.WithoutFlowControl())
	if err != nil {
		return err
	}
	defer cl.Close()
	st, err := cl.Watch(ctx, node.StringPath("bench"), client.WatchOptions{TreeOptions: client.TreeOptions{NChain: 1}})
	if err != nil {
		return cl.mapErr(ctx, err)
	}
	for {
		e, err := st.Next(ctx)
		at := time.Since(t0)
		if err != nil {
			if errors.Is(err, client.ErrEnd) {
				err = fmt.Errorf("%w: the server ended the watch", clientproto.ErrClosed)
			}
			return err
		}
		writer, seq, tagged := v.parseTag(e.Value)
		var flags byte
		var tock uint64
		var origin string
		if tagged {
			flags |= flagTagged
		}
		if len(e.Chain) > 0 {
			flags |= flagVersioned
			tock, origin = e.Tock, e.Chain[0].Origin
		}
		sink.event(at, tock, origin, e.Path.Key(), flags, writer, seq)
	}
}

// eventSink buffers the child's records for a writer goroutine.
type eventSink struct {
	mu     sync.Mutex
	buf    []byte
	closed bool
	wake   chan struct{} // capacity 1: "there is something to write"
	done   chan struct{} // closed when the writer returned
	err    error         // the first write error, read after done
}

func newEventSink(w io.Writer) *eventSink {
	s := &eventSink{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.write(w)
	return s
}

func (s *eventSink) write(w io.Writer) {
	defer close(s.done)
	var spare []byte
	for range s.wake {
		s.mu.Lock()
		b, closed := s.buf, s.closed
		s.buf = spare[:0]
		s.mu.Unlock()
		if len(b) > 0 && s.err == nil {
			_, s.err = w.Write(b)
		}
		spare = b
		if closed {
			return
		}
	}
}

func (s *eventSink) add(f func([]byte) []byte) {
	s.mu.Lock()
	s.buf = f(s.buf)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func appendBytes(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func (s *eventSink) event(at time.Duration, tock uint64, origin, key string, flags byte, writer, seq uint32) {
	s.add(func(b []byte) []byte {
		b = binary.AppendVarint(append(b, recEvent), int64(at))
		b = appendBytes(binary.AppendUvarint(b, tock), origin)
		b = append(appendBytes(b, key), flags)
		return binary.AppendUvarint(binary.AppendUvarint(b, uint64(writer)), uint64(seq))
	})
}

func (s *eventSink) end(closed bool, text string) {
	var c byte
	if closed {
		c = 1
	}
	s.add(func(b []byte) []byte { return appendBytes(append(b, recEnd, c), text) })
}

// close writes what is buffered and stops the writer.
func (s *eventSink) close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.done
	return s.err
}

// watcherErr is a watch's end as its child reported it.
type watcherErr struct {
	text   string
	closed bool // the connection was lost
}

func (e *watcherErr) Error() string { return e.text }

func (e *watcherErr) Unwrap() error {
	if e.closed {
		return clientproto.ErrClosed
	}
	return nil
}

// watcherProc is the parent's side of one child.
type watcherProc struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	stderr   bytes.Buffer  // written by exec's copier; read after Wait
	read     chan struct{} // closed when the reader has seen the child's stdout end
	stopping atomic.Bool
}

// startProcs starts a watcher child for every watch (the connections opened to tell the
// nodes apart are closed) and sets v.t0 for both sides.
func (v *visibility) startProcs(ctx context.Context, b *bench) error {
	exe, err := benchSelf()
	if err != nil {
		return fmt.Errorf("bench: the watcher processes: %w", err)
	}
	v.t0 = time.Now().Round(0) // no monotonic reading: see the top of this file
	for _, w := range v.watches {
		w.cl.Close()
		w.cl = nil
		args := append([]string{"bench-watcher", "--addr", w.addr, "--run", strconv.FormatUint(v.run, 10),
			"--t0", strconv.FormatInt(v.t0.UnixNano(), 10)}, b.cfg.tlsArgs...)
		p := &watcherProc{cmd: exec.CommandContext(ctx, exe, args...), read: make(chan struct{})}
		p.cmd.Stderr = &p.stderr
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			return fmt.Errorf("bench: watcher for %s: %w", w.addr, err)
		}
		out, err := p.cmd.StdoutPipe()
		if err != nil {
			return fmt.Errorf("bench: watcher for %s: %w", w.addr, err)
		}
		if err := p.cmd.Start(); err != nil {
			return fmt.Errorf("bench: watcher for %s: %w", w.addr, err)
		}
		w.proc = p
		go p.readEvents(ctx, v, w, out)
	}
	return nil
}

// readEvents files the child's records into w until its stdout ends.
func (p *watcherProc) readEvents(ctx context.Context, v *visibility, w *nodeWatch, out io.Reader) {
	defer close(p.read)
	err := decodeRecords(bufio.NewReaderSize(out, 64<<10), v, w)
	if errors.Is(err, io.EOF) && (p.stopping.Load() || ctx.Err() != nil) {
		return
	}
	_, _ = io.Copy(io.Discard, out) // let the child finish; Wait closes the pipe
	if err == nil {
		return // an end record: its error is filed
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("the watcher process ended")
	}
	w.mu.Lock()
	if w.err == nil {
		w.err = fmt.Errorf("bench-watcher: %w", err)
	}
	w.mu.Unlock()
}

// decodeRecords reads records until an end record (nil) or an error (io.EOF at the end).
func decodeRecords(br *bufio.Reader, v *visibility, w *nodeWatch) error {
	var origin, key []byte
	origins := map[string]string{} // a few origins: one string each, not one per event
	for {
		kind, err := br.ReadByte()
		if err != nil {
			return err
		}
		switch kind {
		case recEvent:
			at, err := binary.ReadVarint(br)
			if err != nil {
				return truncated(err)
			}
			tock, err := binary.ReadUvarint(br)
			if err != nil {
				return truncated(err)
			}
			if origin, err = readBytes(br, origin); err != nil {
				return err
			}
			if key, err = readBytes(br, key); err != nil {
				return err
			}
			flags, err := br.ReadByte()
			if err != nil {
				return truncated(err)
			}
			writer, err := binary.ReadUvarint(br)
			if err != nil {
				return truncated(err)
			}
			seq, err := binary.ReadUvarint(br)
			if err != nil {
				return truncated(err)
			}
			o, ok := origins[string(origin)]
			if !ok {
				o = string(origin)
				origins[o] = o
			}
			idx, known := v.pathIdx[string(key)]
			w.file(idx, known, flags&flagVersioned != 0, visEvent{ver: wver{tock: tock, origin: o},
				at: time.Duration(at), writer: uint32(writer), seq: uint32(seq), tagged: flags&flagTagged != 0})
		case recEnd:
			closed, err := br.ReadByte()
			if err != nil {
				return truncated(err)
			}
			text, err := readBytes(br, nil)
			if err != nil {
				return err
			}
			w.mu.Lock()
			w.err = &watcherErr{text: string(text), closed: closed == 1}
			w.mu.Unlock()
			return nil
		default:
			return fmt.Errorf("unknown record %q", kind)
		}
	}
}

// maxRecordBytes bounds a string in a record (a path key, an origin, an error text).
const maxRecordBytes = 1 << 20

func readBytes(br *bufio.Reader, buf []byte) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, truncated(err)
	}
	if n > maxRecordBytes {
		return nil, fmt.Errorf("a %d-byte string in a record", n)
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, truncated(err)
	}
	return buf, nil
}

// truncated: an end of stream inside a record is not a clean end.
func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// stop ends the child: its stdin closes, it flushes its events and exits; after
// watcherStopWait it is killed.
func (p *watcherProc) stop() {
	p.stopping.Store(true)
	_ = p.stdin.Close()
	select {
	case <-p.read:
	case <-time.After(watcherStopWait):
		_ = p.cmd.Process.Kill()
		<-p.read
	}
	_ = p.cmd.Wait()
}
