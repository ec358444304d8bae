package peer

import (
	"bufio"
	"sync/atomic"

	"github.com/distkv/distkv/gossip"
)

// Counters count the data plane's frames and bytes (frame headers included) in and out, for
// the server's metrics. A nil *Counters counts nothing.
type Counters struct {
	FramesIn, FramesOut, BytesIn, BytesOut atomic.Uint64
}

func (c *Counters) in(body []byte) {
	if c != nil {
		c.FramesIn.Add(1)
		c.BytesIn.Add(uint64(gossip.FrameHeaderSize + len(body)))
	}
}

func (c *Counters) out(body []byte) {
	if c != nil {
		c.FramesOut.Add(1)
		c.BytesOut.Add(uint64(gossip.FrameHeaderSize + len(body)))
	}
}

// readFrame is gossip.ReadFrame, counted.
func (p *Plane) readFrame(br *bufio.Reader) (byte, []byte, error) { return p.readFrameInto(br, nil) }

// readFrameInto is readFrame reading the body into buf's backing when it fits.
func (p *Plane) readFrameInto(br *bufio.Reader, buf []byte) (byte, []byte, error) {
	t, b, err := gossip.ReadFrame(br, p.cfg.MaxFrame, buf)
	if err == nil {
		p.cfg.Counters.in(b)
	}
	return t, b, err
}

// writeFrame is gossip.WriteFrame, counted.
func (p *Plane) writeFrame(bw *bufio.Writer, t byte, body []byte) error {
	err := gossip.WriteFrame(bw, t, body)
	if err == nil {
		p.cfg.Counters.out(body)
	}
	return err
}
