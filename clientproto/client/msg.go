package client

import (
	"context"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

func appendTopic(m *clientproto.Msg, topic []string) {
	m.Key("topic").Array(len(topic))
	for _, t := range topic {
		m.AppendStr(t)
	}
}

// MsgSend publishes data (msgpack) under topic to the monitors of every live node; nothing is
// stored. A message over the gossip limit fails with clientproto.ErrValueTooLarge.
func (c *Client) MsgSend(ctx context.Context, topic []string, data []byte) error {
	m, seq := c.newReq(clientproto.ActMsgSend)
	appendTopic(m, topic)
	m.Raw("data", data)
	_, err := c.request(ctx, m, seq)
	return err
}

// Msg is one message a monitor received.
type Msg struct {
	Data []byte // msgpack
	// Undecodable holds a payload that is not msgpack (sent raw by a DistKV client); Data is
	// then nil. The monitor runs on.
	Undecodable []byte
}

// MsgStream is a running msg_monitor.
type MsgStream struct{ st *Stream }

// MsgMonitor receives the messages sent under exactly topic from now on, until closed.
func (c *Client) MsgMonitor(ctx context.Context, topic []string) (*MsgStream, error) {
	m, seq := c.newReq(clientproto.ActMsgMonitor)
	appendTopic(m, topic)
	st, err := c.openStream(m, seq, nil)
	if err != nil {
		return nil, err
	}
	return &MsgStream{st: st}, nil
}

// Next returns the next message; ErrEnd once the server has ended the monitor.
func (ms *MsgStream) Next(ctx context.Context) (Msg, error) {
	s := ms.st
	for {
		if s.ended {
			return Msg{}, ErrEnd
		}
		r, err := s.c.wait(ctx, s.seq, s.p)
		if err != nil {
			return Msg{}, err
		}
		if err := s.taken(r.Wseq); err != nil {
			return Msg{}, err
		}
		if raw, ok := clientproto.RawField(r.Raw, "raw"); ok && r.HasError {
			b, err := node.NewReader(raw).Element()
			if err == nil && b.Kind() == node.KindBytes {
				return Msg{Undecodable: []byte(b.StrVal())}, nil
			}
		}
		if r.HasError {
			s.finish()
			return Msg{}, r.err()
		}
		switch r.State {
		case clientproto.StateStart:
			continue
		case clientproto.StateEnd:
			s.finish()
			return Msg{}, ErrEnd
		}
		d, _ := clientproto.RawField(r.Raw, "data")
		return Msg{Data: append([]byte(nil), d...)}, nil
	}
}

// Close stops the monitor on the server.
func (ms *MsgStream) Close(ctx context.Context) error { return ms.st.Close(ctx) }
