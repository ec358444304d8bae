// Package client is the Go client of distkv's client protocol.
//
// A Client holds one connection and multiplexes concurrent calls on it by seq. It never
// reconnects: when the connection drops, every pending and later call fails with an error
// wrapping clientproto.ErrClosed, and whatever the caller derived from the server's state is
// stale, so the caller must start over with a new Client (DistKV's rule).
package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// MaxReply caps one message from the server.
const MaxReply = 64 << 20

// Client is a connection to one distkv server. It is safe for concurrent use.
type Client struct {
	nc      net.Conn
	bw      *bufio.Writer
	wmu     sync.Mutex
	seq     atomic.Uint64
	mu      sync.Mutex
	pending map[uint64]*call
	err     error // set once the connection is gone
	done    chan struct{}

	// From the greeting.
	ServerNode   string
	ServerOrigin string
	authMethods  []string
	boxKey       *[32]byte // DistKV's DH secret, once agreed (under mu)
	// qlen is the flow-control window agreed with the server (0: none): streams ack what
	// their reader has taken, so the server never has more than qlen-1 messages in flight.
	qlen uint64
}

// clientQlen is the most the client buffers per stream, DistKV's client default.
const clientQlen = 10

// call collects the replies to one request. Streams may get many.
type call struct {
	mu     sync.Mutex
	q      []*reply
	notify chan struct{}
	stream bool
}

func (c *call) push(m *reply) {
	c.mu.Lock()
	c.q = append(c.q, m)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *call) pop() *reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.q) == 0 {
		return nil
	}
	m := c.q[0]
	c.q[0] = nil
	c.q = c.q[1:]
	return m
}

// Dial connects to addr and waits for the server's greeting.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var nc net.Conn
	var err error
	if o.tls != nil {
		d := tls.Dialer{Config: o.tls}
		nc, err = d.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", clientproto.ErrClosed, err)
	}
	c := &Client{nc: nc, bw: bufio.NewWriter(nc), pending: make(map[uint64]*call), done: make(chan struct{})}
	greet := &call{notify: make(chan struct{}, 1)}
	c.pending[0] = greet
	go c.reader()
	m, err := c.wait(ctx, 0, greet)
	if err != nil {
		c.Close()
		return nil, err
	}
	c.ServerNode = m.Node
	c.ServerOrigin, _ = node.StringField(m.Raw, "origin")
	if m.Qlen > 0 && !o.noFlow {
		// As DistKV's client: answer with the window, the smaller of the two.
		c.qlen = uint64(max(min(m.Qlen, clientQlen), 4))
		if err := c.writeMsg(clientproto.NewMsg(0).Uint("qlen", c.qlen)); err != nil {
			c.Close()
			return nil, err
		}
	}
	c.authMethods = parseMethods(m.Raw)
	if err := c.login(ctx, &o); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the connection; pending calls fail with ErrClosed.
func (c *Client) Close() error {
	c.fail(errors.New("closed by the caller"))
	return nil
}

// Done is closed when the connection is gone.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection is gone, or nil while it is up.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) fail(cause error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = fmt.Errorf("%w: %v", clientproto.ErrClosed, cause)
	pending := c.pending
	c.pending = map[uint64]*call{}
	c.mu.Unlock()
	c.nc.Close()
	close(c.done)
	for _, p := range pending {
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}
}

func (c *Client) reader() {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		b, err := clientproto.ReadMessage(br, MaxReply)
		if err != nil {
			c.fail(err)
			return
		}
		m, err := parseReply(b)
		if err != nil {
			c.fail(fmt.Errorf("bad reply from server: %v", err))
			return
		}
		if m.Seq == 0 && m.HasError {
			// A connection-level error (e.g. our request was too large): the server closes.
			c.fail(m.err())
			return
		}
		c.mu.Lock()
		p := c.pending[m.Seq]
		if p != nil && !p.stream {
			delete(c.pending, m.Seq)
		}
		c.mu.Unlock()
		if p != nil {
			p.push(m)
		}
	}
}

// send registers a call and writes the request.
func (c *Client) send(m *clientproto.Msg, seq uint64, stream bool) (*call, error) {
	p := &call{notify: make(chan struct{}, 1), stream: stream}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.pending[seq] = p
	c.mu.Unlock()
	if err := c.writeMsg(m); err != nil {
		return nil, err
	}
	return p, nil
}

// writeMsg sends one message.
func (c *Client) writeMsg(m *clientproto.Msg) error {
	c.wmu.Lock()
	_, err := c.bw.Write(m.Bytes())
	if err == nil {
		err = c.bw.Flush()
	}
	c.wmu.Unlock()
	if err != nil {
		c.fail(err)
		return c.Err()
	}
	return nil
}

func (c *Client) forget(seq uint64) {
	c.mu.Lock()
	delete(c.pending, seq)
	c.mu.Unlock()
}

// wait returns the next reply of a call.
func (c *Client) wait(ctx context.Context, seq uint64, p *call) (*reply, error) {
	for {
		if m := p.pop(); m != nil {
			return m, nil
		}
		if err := c.Err(); err != nil {
			return nil, err
		}
		select {
		case <-p.notify:
		case <-ctx.Done():
			c.forget(seq)
			return nil, ctx.Err()
		}
	}
}

// request sends a single-reply request and returns the reply, or its error.
func (c *Client) request(ctx context.Context, m *clientproto.Msg, seq uint64) (*reply, error) {
	p, err := c.send(m, seq, false)
	if err != nil {
		return nil, err
	}
	r, err := c.wait(ctx, seq, p)
	if err != nil {
		return nil, err
	}
	return r, r.err()
}

func (c *Client) newReq(action string) (*clientproto.Msg, uint64) {
	seq := c.seq.Add(1)
	return clientproto.NewMsg(seq).Str("action", action), seq
}
