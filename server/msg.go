package server

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// eventMsg carries one msg_send: msgpack [topic, payload], topic DistKV's dotted name, payload
// bin. Serf hands it to every live member once, the sender included.
const eventMsg = "m"

// msgQueue bounds a monitor's backlog; a monitor further behind is ended, as a watch is.
const msgQueue = 1024

// msgHub holds the running msg_monitor streams by topic. Its zero value is ready.
type msgHub struct {
	mu   sync.Mutex
	next uint64
	subs map[string]map[uint64]*msgSub
}

type msgSub struct {
	ch       chan []byte
	overflow chan struct{}
}

func (h *msgHub) add(topic string) (uint64, *msgSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = make(map[string]map[uint64]*msgSub)
	}
	if h.subs[topic] == nil {
		h.subs[topic] = make(map[uint64]*msgSub)
	}
	h.next++
	sub := &msgSub{ch: make(chan []byte, msgQueue), overflow: make(chan struct{})}
	h.subs[topic][h.next] = sub
	return h.next, sub
}

func (h *msgHub) remove(topic string, id uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs[topic], id)
	if len(h.subs[topic]) == 0 {
		delete(h.subs, topic)
	}
}

// deliver hands payload to every monitor of topic without blocking: a full one is ended.
func (h *msgHub) deliver(topic string, payload []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, sub := range h.subs[topic] {
		select {
		case sub.ch <- payload:
		default:
			close(sub.overflow)
			delete(h.subs[topic], id)
		}
	}
}

// msgTopic reads a topic as DistKV's serf backend names it: its string elements joined by
// ".", matched exactly (no wildcards). A string is a topic of one element.
func msgTopic(q *clientproto.Request) (string, error) {
	raw, ok := q.Extra["topic"]
	if !ok {
		return "", fmt.Errorf("%w: %s needs topic", clientproto.ErrBadRequest, q.Action)
	}
	r := node.NewReader(raw)
	if s, err := r.Str(); err == nil {
		if s == "" {
			return "", fmt.Errorf("%w: empty topic", clientproto.ErrBadRequest)
		}
		return s, nil
	}
	p, err := node.NewReader(raw).Path()
	if err != nil || len(p) == 0 {
		return "", fmt.Errorf("%w: topic: want a non-empty list of strings", clientproto.ErrBadRequest)
	}
	parts := make([]string, len(p))
	for i, e := range p {
		if e.Kind() != node.KindString {
			return "", fmt.Errorf("%w: topic element %d is not a string", clientproto.ErrBadRequest, i)
		}
		parts[i] = e.StrVal()
	}
	return strings.Join(parts, "."), nil
}

// msgSend answers DistKV's msg_send {topic, data} or {topic, raw}: data is sent as its msgpack
// encoding, raw (bytes) as is, to the monitors of every live node, over one serf event.
func (s *Server) msgSend(q *clientproto.Request) []byte {
	topic, err := msgTopic(q)
	if err != nil {
		return errReply(q.Seq, err, s.tock())
	}
	data, hasData := q.Extra["data"]
	raw, hasRaw := q.Extra["raw"]
	var payload []byte
	switch {
	case hasData && hasRaw:
		return errReply(q.Seq, fmt.Errorf("%w: msg_send takes data or raw, not both", clientproto.ErrBadRequest), s.tock())
	case hasRaw:
		e, err := node.NewReader(raw).Element()
		if err != nil || (e.Kind() != node.KindBytes && e.Kind() != node.KindString) {
			return errReply(q.Seq, fmt.Errorf("%w: raw: want bytes", clientproto.ErrBadRequest), s.tock())
		}
		payload = []byte(e.StrVal())
	case hasData:
		payload = data
	default:
		payload = node.AppendNil(nil) // DistKV's client sends data=None
	}
	if s.cluster == nil {
		s.msgs.deliver(topic, payload)
	} else {
		ev := node.AppendBinString(node.AppendString(node.AppendArrayLen(nil, 2), topic), string(payload))
		if limit := s.cluster.g.MaxEventPayload(eventMsg); len(ev) > limit {
			return errReply(q.Seq, fmt.Errorf("%w: message of %d bytes with its topic, the gossip limit is %d",
				clientproto.ErrValueTooLarge, len(ev), limit), s.tock())
		}
		if err := s.cluster.g.UserEvent(eventMsg, ev); err != nil {
			return errReply(q.Seq, fmt.Errorf("%w: msg_send: %v", clientproto.ErrUnavailable, err), s.tock())
		}
	}
	return clientproto.NewMsg(q.Seq).Uint("tock", s.tock()).Bytes()
}

// onMsgEvent delivers a received msg_send event to this node's monitors.
func (s *Server) onMsgEvent(b []byte) error {
	r := node.NewReader(b)
	if n, err := r.ArrayLen(); err != nil || n != 2 {
		return fmt.Errorf("message event: want [topic, payload]")
	}
	topic, err := r.Str()
	if err != nil {
		return fmt.Errorf("message event: topic: %w", err)
	}
	e, err := r.Element()
	if err != nil || e.Kind() != node.KindBytes {
		return fmt.Errorf("message event: payload is not bytes")
	}
	s.msgs.deliver(topic, []byte(e.StrVal()))
	return nil
}

// msgMonitor runs DistKV's msg_monitor {topic, raw?}: start, then per message {topic, data}
// (with raw: {topic, raw}; data that is not msgpack: {topic, raw, error}), until stopped.
// The caller has checked the topic (msgTopic) on the reader goroutine.
func (c *conn) msgMonitor(ctx context.Context, q *clientproto.Request, topic string, out *streamOut) {
	s := c.s
	wantRaw, _ := node.NewReader(q.Extra["raw"]).Bool()
	id, sub := s.msgs.add(topic)
	defer s.msgs.remove(topic, id)
	if !out.state(ctx, clientproto.StateStart) {
		return
	}
	for {
		select {
		case p := <-sub.ch:
			m := clientproto.NewMsg(q.Seq).Raw("topic", q.Extra["topic"]) // as the monitor named it, as DistKV
			if wantRaw {
				m.Key("raw").AppendRaw(node.AppendBinString(nil, string(p)))
			} else if r := node.NewReader(p); isOneValue(r) {
				m.Raw("data", p)
			} else {
				m.Key("raw").AppendRaw(node.AppendBinString(nil, string(p))).Str("error", "not msgpack")
			}
			if !out.send(ctx, m) {
				return
			}
		case <-sub.overflow:
			err := fmt.Errorf("%w: more than %d messages pending; monitor again", clientproto.ErrWatchOverflow, msgQueue)
			out.send(ctx, errMsg(q.Seq, err, s.tock()))
			out.end(ctx)
			return
		case <-ctx.Done():
			out.end(ctx)
			return
		}
	}
}

// isOneValue reports whether r holds exactly one msgpack value.
func isOneValue(r *node.Reader) bool {
	_, err := r.Raw()
	return err == nil && r.Len() == 0
}

// MaxMsgPayload is the gossip budget of one message event (0 without a cluster: no limit).
func (s *Server) MaxMsgPayload() int {
	if s.cluster == nil {
		return 0
	}
	return s.cluster.g.MaxEventPayload(eventMsg)
}
