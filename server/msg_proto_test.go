package server

import (
	"bytes"
	"testing"
)

// TestMsgProto: DistKV's msg_send and msg_monitor fields on one node: topic as a path or list
// (dotted names match exactly), data decoded for a monitor, raw bytes passed as they are, and
// the refusals.
func TestMsgProto(t *testing.T) {
	s := ptStart(t, Config{})
	c := s.dial(t)
	mon := c.send(ptM{"action": "msg_monitor", "topic": ptPath{"a", "b"}})
	raw := c.send(ptM{"action": "msg_monitor", "topic": ptA("a", "b"), "raw": true})
	for _, seq := range []uint64{mon, raw} {
		if m := c.next(seq); m["state"] != "start" {
			t.Fatalf("monitor: %v, want start", m)
		}
	}
	c.ok(ptM{"action": "msg_send", "topic": ptA("a"), "data": "not for a.b"})
	c.ok(ptM{"action": "msg_send", "topic": ptA("a", "b"), "data": map[string]any{"x": 1}})
	if m := c.next(mon); ptNorm(m["data"]) == nil || m["raw"] != nil || ptUint(m["data"].(map[string]any)["x"]) != 1 {
		t.Fatalf("monitor got %v, want data {x: 1}", m)
	}
	if m := c.next(raw); !bytes.Equal(m["raw"].([]byte), []byte{0x81, 0xa1, 'x', 1}) || m["data"] != nil {
		t.Fatalf("raw monitor got %v, want the msgpack bytes of {x: 1}", m)
	}
	c.ok(ptM{"action": "msg_send", "topic": "a.b", "raw": []byte{0xc1}}) // one element "a.b": the same serf name
	if m := c.next(mon); m["error"] == nil || !bytes.Equal(m["raw"].([]byte), []byte{0xc1}) {
		t.Fatalf("monitor got %v, want raw and error for bytes that are not msgpack", m)
	}
	if m := c.next(raw); !bytes.Equal(m["raw"].([]byte), []byte{0xc1}) {
		t.Fatalf("raw monitor got %v", m)
	}
	c.callErr(ptM{"action": "msg_send", "topic": ptA("a"), "data": 1, "raw": []byte{1}}, "request")
	c.callErr(ptM{"action": "msg_send", "data": 1}, "request")
	c.callErr(ptM{"action": "msg_send", "topic": ptA("a", 1), "data": 1}, "request")
	c.streamErr(ptM{"action": "msg_monitor", "topic": ptA()}, "request")
}
