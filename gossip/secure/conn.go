package secure

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/gossip"
)

// Record layout: a header of the sealed length (4 bytes, big-endian) and the type (1 byte), then
// the AES-256-GCM ciphertext with its 16-byte tag. The header is the AEAD's additional data; the
// nonce is the record's number in its direction (8 bytes big-endian after 4 zero bytes), never
// sent, so that a replayed, dropped or reordered record fails to open.
const (
	recHeaderLen = 5
	tagLen       = 16
	// MaxRecord bounds one record's plaintext; larger writes are split.
	MaxRecord = 16 << 10
	recData   = 1
	recClose  = 2 // empty; the sender's last record: an end of stream without it is a truncation
)

// ErrRecord is the cause of a rejected record: forged, replayed, reordered, oversized, or a stream
// cut off before its close record.
var ErrRecord = errors.New("secure: bad record")

// closeTimeout bounds the write of the close record on Close.
const closeTimeout = time.Second

// Conn is a data-plane connection that runs the handshake before its first byte of data, then
// seals every Write into records and opens records on Read. Safe for one reader and one writer
// at a time, plus Close from anywhere, as net.Conn requires.
type Conn struct {
	net.Conn // the raw stream
	nw       *Network
	client   bool

	hsMu  sync.Mutex
	hsOK  bool
	hsErr error
	keyID [gossip.KeyIDLen]byte

	dlMu      sync.Mutex // the caller's deadlines, restored after the handshake
	rdl, wdl  time.Time
	closeOnce sync.Once
	closing   atomic.Bool

	rmu     sync.Mutex
	ropen   cipher.AEAD
	rseq    uint64
	rnonce  [12]byte
	raw     []byte // bytes of the record being read
	plain   []byte // opened, not yet returned
	rerr    error  // sticky
	wmu     sync.Mutex
	wseal   cipher.AEAD
	wseq    uint64
	wnonce  [12]byte
	wbuf    []byte
	werr    error // sticky
	wclosed bool
}

// Handshake runs the handshake if it has not run yet and returns its result. Read and Write call
// it; a Conn from Dial has already run it.
func (c *Conn) Handshake() error {
	c.hsMu.Lock()
	defer c.hsMu.Unlock()
	if c.hsOK || c.hsErr != nil {
		return c.hsErr
	}
	_ = c.Conn.SetDeadline(time.Now().Add(c.nw.HandshakeTimeout))
	var sk sessionKeys
	var err error
	if c.client {
		sk, c.keyID, err = clientHandshake(c.Conn, c.nw.keys)
	} else {
		sk, c.keyID, err = serverHandshake(c.Conn, c.nw.keys)
	}
	c.dlMu.Lock()
	_ = c.Conn.SetReadDeadline(c.rdl)
	_ = c.Conn.SetWriteDeadline(c.wdl)
	c.dlMu.Unlock()
	if err == nil {
		rk, wk := sk.s2c, sk.c2s
		if !c.client {
			rk, wk = wk, rk
		}
		if c.ropen, err = newGCM(rk); err == nil {
			c.wseal, err = newGCM(wk)
		}
	}
	if err != nil {
		c.hsErr = err
		c.Conn.Close() // nothing the peer sent is ever read as data
		return err
	}
	c.hsOK = true
	if !c.nw.register(c) {
		c.hsErr = fmt.Errorf("%w: key removed during the handshake", ErrHandshake)
		c.Conn.Close()
		return c.hsErr
	}
	return nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secure: %w", err)
	}
	return cipher.NewGCM(b)
}

// nonce writes a record's nonce into n, the direction's buffer in the Conn: a local array
// would escape to the heap, one allocation per record.
func nonce(n *[12]byte, seq uint64) []byte {
	binary.BigEndian.PutUint64(n[4:], seq)
	return n[:]
}

// Read returns opened data. A clean end (the peer's close record) is io.EOF; an end without it is
// io.ErrUnexpectedEOF wrapped in ErrRecord.
func (c *Conn) Read(p []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.plain) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if err := c.readRecord(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.plain)
	c.plain = c.plain[n:]
	return n, nil
}

// fill reads until raw holds n bytes. A timeout keeps what arrived, so that a later Read goes on
// where this one stopped.
func (c *Conn) fill(n int) error {
	if cap(c.raw) < n {
		c.raw = append(make([]byte, 0, n), c.raw...)
	}
	for len(c.raw) < n {
		m, err := c.Conn.Read(c.raw[len(c.raw):n])
		c.raw = c.raw[:len(c.raw)+m]
		if err != nil && len(c.raw) < n {
			return err
		}
	}
	return nil
}

// readRecord reads and opens one record into plain; errors other than timeouts are sticky.
func (c *Conn) readRecord() error {
	err := c.fill(recHeaderLen)
	if err == nil {
		size := binary.BigEndian.Uint32(c.raw)
		if size < tagLen || size > MaxRecord+tagLen {
			return c.failRead(fmt.Errorf("%w: sealed length %d", ErrRecord, size))
		}
		err = c.fill(recHeaderLen + int(size))
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: stream ended without a close record: %w", ErrRecord, io.ErrUnexpectedEOF)
		}
		return c.failRead(err)
	}
	hdr, sealed := c.raw[:recHeaderLen], c.raw[recHeaderLen:]
	plain, err := c.ropen.Open(sealed[:0], nonce(&c.rnonce, c.rseq), sealed, hdr)
	if err != nil {
		return c.failRead(fmt.Errorf("%w: record %d does not open (forged, replayed or reordered)", ErrRecord, c.rseq))
	}
	c.rseq++
	typ := hdr[4]
	c.raw = c.raw[:0]
	switch {
	case typ == recData:
		c.plain = plain
	case typ == recClose && len(plain) == 0:
		c.rerr = io.EOF
	default:
		return c.failRead(fmt.Errorf("%w: record type %d", ErrRecord, typ))
	}
	return nil
}

func (c *Conn) failRead(err error) error {
	c.rerr = err
	c.Conn.Close()
	return err
}

// Write seals p into records of at most MaxRecord bytes, sent with one write to the stream.
func (c *Conn) Write(p []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		return 0, net.ErrClosed
	}
	n := 0
	for len(p) > 0 {
		// At most 4 records (64 KiB, a bufio.Writer's flush in the peer code) per write.
		batch := p[:min(len(p), 4*MaxRecord)]
		b := c.wbuf[:0]
		for rest := batch; len(rest) > 0; {
			chunk := rest[:min(len(rest), MaxRecord)]
			b = c.seal(b, recData, chunk)
			rest = rest[len(chunk):]
		}
		c.wbuf = b
		if err := c.send(b); err != nil {
			return n, err
		}
		n += len(batch)
		p = p[len(batch):]
	}
	return n, nil
}

// seal appends one record to b.
func (c *Conn) seal(b []byte, typ byte, p []byte) []byte {
	off := len(b)
	b = append(b, 0, 0, 0, 0, typ)
	binary.BigEndian.PutUint32(b[off:], uint32(len(p)+tagLen))
	b = c.wseal.Seal(b, nonce(&c.wnonce, c.wseq), p, b[off:off+recHeaderLen])
	c.wseq++
	return b
}

// send writes sealed records; a failed write leaves the stream broken (sticky).
func (c *Conn) send(b []byte) error {
	if c.werr != nil {
		return c.werr
	}
	if _, err := c.Conn.Write(b); err != nil {
		c.werr = err
		return err
	}
	return nil
}

// Close sends the close record, unless a Write or the handshake is in progress (the peer then
// sees a truncated stream, which it is), and closes the stream.
func (c *Conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		c.closing.Store(true) // before unregister: a handshake finishing now does not register
		ok := false
		if c.hsMu.TryLock() {
			ok = c.hsOK
			c.hsMu.Unlock()
		}
		if ok && c.wmu.TryLock() {
			if !c.wclosed && c.werr == nil {
				_ = c.Conn.SetWriteDeadline(time.Now().Add(closeTimeout))
				_ = c.send(c.seal(c.wbuf[:0], recClose, nil))
			}
			c.wclosed = true
			c.wmu.Unlock()
		}
		err = c.Conn.Close()
		c.nw.unregister(c)
	})
	return err
}

// SetDeadline, SetReadDeadline and SetWriteDeadline apply to the data stream; during the
// handshake its own deadline also applies, and the caller's take over afterwards.
func (c *Conn) SetDeadline(t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.rdl, c.wdl = t, t
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline: see SetDeadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.rdl = t
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline: see SetDeadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.wdl = t
	return c.Conn.SetWriteDeadline(t)
}
