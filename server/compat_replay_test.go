package server

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// TestDistKVReplay replays exchanges of DistKV 0.57.4's own client and CLI with distkv,
// recorded by scripts/distkv-compat/record.sh, and checks that the server answers each message
// as it did then, modulo the origin's boot generation (rpNormalise). Ticks and tocks are
// compared too: a fresh node given the same requests in the same order makes the same ones,
// and the client echoes ticks back in chain conditions. The client's
// messages are sent in the recorded order, each once every server message recorded before it
// has arrived, so causality across streams and connections holds as it did.
func TestDistKVReplay(t *testing.T) {
	files, err := filepath.Glob("testdata/distkv/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { replayFile(t, f) })
	}
}

// rpEvent is one line of a recording: N (connect), C (client message), S (server message) or
// X (the client closes).
type rpEvent struct {
	kind byte
	conn int
	data []byte
}

func readRecording(t *testing.T, file string) []rpEvent {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []rpEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for ln := 1; sc.Scan(); ln++ {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) < 2 || len(fs[0]) != 1 || !strings.Contains("NCSX", fs[0]) {
			t.Fatalf("%s:%d: bad line %q", file, ln, line)
		}
		id, err := strconv.Atoi(fs[1])
		if err != nil {
			t.Fatalf("%s:%d: bad connection id: %v", file, ln, err)
		}
		ev := rpEvent{kind: fs[0][0], conn: id}
		if ev.kind == 'C' || ev.kind == 'S' {
			if len(fs) != 3 {
				t.Fatalf("%s:%d: no data", file, ln)
			}
			if ev.data, err = hex.DecodeString(fs[2]); err != nil {
				t.Fatalf("%s:%d: %v", file, ln, err)
			}
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

type rpGot struct {
	conn int
	b    []byte
	err  error
}

func replayFile(t *testing.T, file string) {
	evs := readRecording(t, file)
	if len(evs) < 2 || evs[0].kind != 'N' || evs[1].kind != 'S' {
		t.Fatal("a recording starts with a connection and its greeting")
	}
	recOrigin, ok := node.StringField(evs[1].data, "origin")
	if !ok {
		t.Fatal("greeting without origin")
	}
	name, _, _ := strings.Cut(recOrigin, "~")
	srv := ptStart(t, Config{Name: name, ClientLogDir: t.TempDir()}) // log's files (record.sh)
	srv.S.mu.Lock()
	liveOrigin := srv.S.node.Origin()
	srv.S.mu.Unlock()
	if len(liveOrigin) != len(recOrigin) {
		t.Fatalf("origin %q and recorded %q differ in length: client bytes cannot be rewritten", liveOrigin, recOrigin)
	}

	// Expected server messages, per connection and seq, in order.
	type key struct {
		conn int
		seq  uint64
	}
	want := map[key][]int{}
	matched := make([]bool, len(evs))
	closedAt := map[int]int{}
	for i, ev := range evs {
		if ev.kind == 'X' {
			closedAt[ev.conn] = i
		}
	}
	for i, ev := range evs {
		if ev.kind != 'S' {
			matched[i] = true // only server messages are waited for
			continue
		}
		if x, ok := closedAt[ev.conn]; ok && i > x {
			matched[i] = true // sent after the client closed: not checked
			continue
		}
		k := key{ev.conn, clientproto.PeekSeq(ev.data)}
		want[k] = append(want[k], i)
	}

	conns := map[int]net.Conn{}
	closed := map[int]bool{}
	got := make(chan rpGot, 1024)
	deadline := time.Now().Add(2 * ptTimeout)
	// await reads server messages until every one recorded before event upto has arrived.
	await := func(upto int) {
		t.Helper()
		for {
			done := true
			for i := 0; i < upto; i++ {
				if !matched[i] {
					done = false
					break
				}
			}
			if done {
				return
			}
			var g rpGot
			select {
			case g = <-got:
			case <-time.After(time.Until(deadline)):
				for i := 0; i < upto; i++ {
					if !matched[i] {
						t.Fatalf("connection %d: server message never came: %s", evs[i].conn, rpShow(evs[i].data))
					}
				}
			}
			if closed[g.conn] {
				continue
			}
			if g.err != nil {
				t.Fatalf("connection %d: %v", g.conn, g.err)
			}
			k := key{g.conn, clientproto.PeekSeq(g.b)}
			q := want[k]
			if len(q) == 0 {
				t.Fatalf("connection %d: unexpected message %s", g.conn, rpShow(g.b))
			}
			exp := evs[q[0]].data
			want[k] = q[1:]
			a, errA := rpNormalise(exp, recOrigin)
			b, errB := rpNormalise(g.b, liveOrigin)
			if errA != nil || errB != nil {
				t.Fatalf("decode: %v / %v", errA, errB)
			}
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("connection %d seq %d:\n got  %s\n want %s", g.conn, k.seq, rpShow(g.b), rpShow(exp))
			}
			matched[q[0]] = true
		}
	}
	for i, ev := range evs {
		switch ev.kind {
		case 'N':
			await(i)
			nc, err := net.DialTimeout("tcp", srv.Addr, ptTimeout)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nc.Close() })
			conns[ev.conn] = nc
			go func(id int) {
				br := bufio.NewReader(nc)
				for {
					b, err := clientproto.ReadMessage(br, MaxRequestDefault)
					got <- rpGot{conn: id, b: b, err: err}
					if err != nil {
						return
					}
				}
			}(ev.conn)
		case 'C':
			await(i)
			b := bytes.ReplaceAll(ev.data, []byte(recOrigin), []byte(liveOrigin))
			conns[ev.conn].SetWriteDeadline(time.Now().Add(ptTimeout))
			if _, err := conns[ev.conn].Write(b); err != nil {
				t.Fatalf("write: %v", err)
			}
		case 'X':
			await(i)
			closed[ev.conn] = true
			conns[ev.conn].Close()
		}
	}
	await(len(evs))
}

// MaxRequestDefault bounds a replayed server message.
const MaxRequestDefault = 64 << 20

// rpNormalise decodes a message for comparison: map keys in any order, the origin (whose boot
// generation is volatile) written ORIGIN wherever it occurs, paths and big integers kept
// distinct from arrays and plain integers.
func rpNormalise(b []byte, origin string) (any, error) {
	r := node.NewReader(b)
	v, err := rpValue(r, origin, 0)
	if err == nil && r.Len() != 0 {
		err = fmt.Errorf("%d trailing bytes", r.Len())
	}
	return v, err
}

type rpPath string
type rpExt struct {
	typ  int8
	data string
}

func rpValue(r *node.Reader, origin string, depth int) (any, error) {
	if depth > 64 {
		return nil, fmt.Errorf("nested too deep")
	}
	c, err := r.Peek()
	if err != nil {
		return nil, err
	}
	switch {
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		n, err := r.MapLen()
		if err != nil {
			return nil, err
		}
		m := make(map[any]any, n)
		for i := 0; i < n; i++ {
			k, err := rpValue(r, origin, depth+1)
			if err != nil {
				return nil, err
			}
			v, err := rpValue(r, origin, depth+1)
			if err != nil {
				return nil, err
			}
			if !reflect.TypeOf(k).Comparable() {
				return nil, fmt.Errorf("map key %v", k)
			}
			m[k] = v
		}
		return m, nil
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		n, err := r.ArrayLen()
		if err != nil {
			return nil, err
		}
		a := make([]any, n)
		for i := range a {
			if a[i], err = rpValue(r, origin, depth+1); err != nil {
				return nil, err
			}
		}
		return a, nil
	case c >= 0xd4 && c <= 0xd8, c >= 0xc7 && c <= 0xc9:
		raw, err := r.Raw()
		if err != nil {
			return nil, err
		}
		if p, err := node.ParsePathBytes(raw); err == nil {
			return rpPath(rpBlank(p.String(), origin)), nil
		}
		if e, err := node.ParseElement(raw); err == nil {
			return e, nil
		}
		t, payload, err := node.NewReader(raw).ExtHeaderAndPayload()
		return rpExt{t, string(payload)}, err
	}
	e, err := r.Element()
	if err != nil {
		return nil, err
	}
	if e.Kind() == node.KindString {
		return node.String(rpBlank(e.StrVal(), origin)), nil
	}
	return e, nil
}

func rpBlank(s, origin string) string {
	if origin == "" {
		return s
	}
	return strings.ReplaceAll(s, origin, "ORIGIN")
}

func rpShow(b []byte) string {
	v, err := rpNormalise(b, "")
	if err != nil {
		return fmt.Sprintf("% x (%v)", b, err)
	}
	return fmt.Sprint(v)
}
