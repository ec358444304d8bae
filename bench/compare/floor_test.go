package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func startTestFloor(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go floorServe(l)
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// The load generator's own client gets the answers it expects for SET, GET and PING.
func TestFloorAnswersRedisClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: startTestFloor(t), DisableIdentity: true, Protocol: 2})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal("ping:", err)
	}
	if err := c.Set(ctx, "bench:1", bytes.Repeat([]byte{0, '\r', '\n', '$'}, 100), 0).Err(); err != nil {
		t.Fatal("set:", err)
	}
	if v, err := c.Get(ctx, "bench:1").Result(); err != nil || v != "abc" {
		t.Fatalf("get: %q, %v", v, err)
	}
}

// Requests sent together get one answer each, in order; a malformed one ends the connection.
func TestFloorPipelinedAndMalformed(t *testing.T) {
	nc, err := net.Dial("tcp", startTestFloor(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	req := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n*2\r\n$3\r\nget\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n*1\r\n$5\r\nHELLO\r\n"
	if _, err := nc.Write([]byte(req + "+nonsense\r\n")); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	r := bufio.NewReader(nc)
	for {
		line, err := r.ReadString('\n')
		got.WriteString(line)
		if err != nil {
			break // the floor closed the connection at the malformed request
		}
	}
	if want := "+OK\r\n$3\r\nabc\r\n+PONG\r\n-ERR unknown command\r\n"; got.String() != want {
		t.Fatalf("answers %q, want %q", got.String(), want)
	}
}

// Whatever a client sends, the reader returns or fails without panicking; and a command
// encoded as the load generator's client encodes it reads back as its name (empty when longer
// than the name's buffer), its arguments skipped to the byte, the next command after it.
func FuzzReadCommand(f *testing.F) {
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n"), []byte("SET"), []byte("k\r\n"))
	f.Add([]byte("*1\r\n$99999999999\r\n"), []byte("GET"), []byte(""))
	f.Add([]byte("*-1\r\n"), []byte(""), []byte("x"))
	f.Add([]byte("*2\r\n$40\r\nGETGETGETGETGETGETGETGETGETGETGETGETGETG\r\n$0\r\n\r\n"), []byte("GETGETGETGETGETGE"), []byte("$0"))
	f.Fuzz(func(t *testing.T, in, name, arg []byte) {
		var buf [16]byte
		r := bufio.NewReader(bytes.NewReader(in))
		for range 64 {
			if _, err := readCommand(r, buf[:0]); err != nil {
				break
			}
		}
		var enc []byte
		for _, a := range [][]byte{name, arg} {
			enc = append(enc, fmt.Sprintf("$%d\r\n", len(a))...)
			enc = append(append(enc, a...), "\r\n"...)
		}
		enc = append([]byte("*2\r\n"), enc...)
		r = bufio.NewReader(bytes.NewReader(bytes.Repeat(enc, 2)))
		want := name
		if len(want) > len(buf) {
			want = nil
		}
		for k := range 2 {
			got, err := readCommand(r, buf[:0])
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("command %d of %q: %q, %v; want %q", k, enc, got, err, want)
			}
		}
		if _, err := r.ReadByte(); err != io.EOF {
			t.Fatalf("after two commands of %q: %v, want the end of the input", enc, err)
		}
	})
}
