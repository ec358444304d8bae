package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

// The floor: a Go server that speaks just enough RESP to answer the load generator's SET and
// GET and stores nothing, one goroutine per connection with buffered reads and writes, a reply
// flushed when no further request is buffered (as distkv's server does). Driven by the same
// client as Redis, its CPU per request is what the transport costs a Go server on this machine
// (the socket reads and writes, the loopback's delivery to the other side, the runtime's
// netpoller and scheduler) before any work: what no Go server can go below.

// floorServe answers the connections l accepts until it fails.
func floorServe(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go floorConn(c)
	}
}

func floorConn(c net.Conn) {
	defer c.Close()
	r, w := bufio.NewReaderSize(c, 64<<10), bufio.NewWriterSize(c, 64<<10)
	var name [16]byte
	for {
		cmd, err := readCommand(r, name[:0])
		if err != nil {
			w.Flush() // the answers to the requests before it
			return
		}
		w.WriteString(floorReply(cmd))
		if r.Buffered() == 0 && w.Flush() != nil {
			return
		}
	}
}

// floorReply answers a command without looking anything up: a GET finds a fixed 3-byte value.
// Others (the client's HELLO) get Redis's answer to a command it lacks, as from a Redis before
// version 6.
func floorReply(cmd []byte) string {
	switch {
	case bytes.EqualFold(cmd, []byte("SET")):
		return "+OK\r\n"
	case bytes.EqualFold(cmd, []byte("GET")):
		return "$3\r\nabc\r\n"
	case bytes.EqualFold(cmd, []byte("PING")):
		return "+PONG\r\n"
	default:
		return "-ERR unknown command\r\n"
	}
}

var errResp = errors.New("floor: malformed RESP")

// readCommand reads one RESP array of bulk strings, appends the command's name (up to
// cap(name) bytes) to name and skips the arguments: nothing is allocated per request.
func readCommand(r *bufio.Reader, name []byte) ([]byte, error) {
	n, err := readLen(r, '*')
	if err != nil {
		return name, err
	}
	if n == 0 {
		return name, fmt.Errorf("%w: empty command", errResp)
	}
	for i := range n {
		m, err := readLen(r, '$')
		if err != nil {
			return name, err
		}
		if i == 0 && m <= cap(name) {
			name = name[:m]
			if _, err := io.ReadFull(r, name); err != nil {
				return name, err
			}
			m = 0
		}
		if _, err := r.Discard(m + 2); err != nil {
			return name, err
		}
	}
	return name, nil
}

// readLen reads a line "<kind><number>\r\n".
func readLen(r *bufio.Reader, kind byte) (int, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 4 || line[0] != kind || line[len(line)-2] != '\r' {
		return 0, errResp
	}
	n, err := strconv.Atoi(string(line[1 : len(line)-2]))
	if err != nil || n < 0 {
		return 0, errResp
	}
	return n, nil
}
