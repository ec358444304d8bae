package server

import (
	"context"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// watchBatchBytes bounds one batch of watch events: a watcher that fell behind catches up in
// few channel handoffs and writes, while what a stalled client can hold in its connection's
// queue stays bounded (256 batches).
const watchBatchBytes = 16 << 10

// watchSender encodes a watch's events in batches: every event that is already queued when
// one is taken goes into the same buffer, handed to the writer as one message. The messages
// on the wire are the same as one by one; only the writes are fewer. One Msg is reused, so
// the encoding allocates once per batch, not per event.
type watchSender struct {
	c   *conn
	q   *clientproto.Request
	out *streamOut
	sh  shortener
	nc  int
	m   clientproto.Msg
	// avg is the mean encoded size of an event so far, to size a batch's buffer.
	avg int
}

// batch sends ev and the events queued behind it, up to watchBatchBytes and what the
// flow-control window lets out without waiting. false once the stream or connection is over.
func (w *watchSender) batch(ctx context.Context, wq *watchQ, ev node.Event) bool {
	vis := w.c.readable(w.q) // the ACL once per batch; a watcher never sees what it may not read
	n := min(len(wq.ch)+1, watchBatchBytes/max(w.avg, 1))
	b := make([]byte, 0, min(n*max(w.avg, 64), watchBatchBytes)+max(w.avg, 64))
	events := 0
	for {
		if vis(ev.Entry.Path) {
			w.m.Reset(w.q.Seq)
			var ok bool
			if b, ok = w.out.appendMsg(ctx, b, w.sh.entryTo(&w.m, ev.Entry, w.nc)); !ok {
				return false
			}
			events++
		}
		if len(b) >= watchBatchBytes || !w.out.canAppend() {
			break
		}
		select {
		case ev = <-wq.ch:
			continue
		default:
		}
		break
	}
	if events > 0 {
		w.avg = len(b) / events
	}
	return w.out.flush(b)
}
