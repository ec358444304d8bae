package main

import (
	"bufio"
	"bytes"
	"context"
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

// Whatever a client sends, the reader returns or fails without panicking, and never reads
// more of a bulk string than the input holds.
func FuzzReadCommand(f *testing.F) {
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n"))
	f.Add([]byte("*1\r\n$99999999999\r\n"))
	f.Add([]byte("*-1\r\n"))
	f.Add([]byte("*2\r\n$40\r\nGETGETGETGETGETGETGETGETGETGETGETGETGETG\r\n$0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		var name [16]byte
		for range 64 {
			cmd, err := readCommand(r, name[:0])
			if err != nil {
				return
			}
			if len(cmd) > len(name) {
				t.Fatalf("command name of %d bytes in a %d-byte buffer", len(cmd), len(name))
			}
		}
	})
}
