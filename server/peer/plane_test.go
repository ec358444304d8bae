package peer

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
)

// recorder is a Handler that answers VectorReq, fails on MsgRepair, and records the rest.
type recorder struct {
	mu   sync.Mutex
	got  []byte // frame types, in order
	from []string
	seen chan struct{}
}

func (h *recorder) Handle(from wire.Hello, t byte, body []byte, r *Replier) error {
	switch t {
	case wire.MsgVectorReq:
		return r.Send(wire.MsgVector, wire.Vector{Name: "b", Origin: "b~1", Tock: 7}.Append(nil))
	case wire.MsgRepair:
		return errors.New("no repairs here")
	}
	h.mu.Lock()
	h.got, h.from = append(h.got, t), append(h.from, from.Name)
	h.mu.Unlock()
	select {
	case h.seen <- struct{}{}:
	default:
	}
	return nil
}

func (h *recorder) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		h.mu.Lock()
		k := len(h.got)
		h.mu.Unlock()
		if k >= n {
			return
		}
		select {
		case <-h.seen:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("got %d frames, want %d", k, n)
		}
	}
}

func testPlane(t *testing.T, name string, h Handler, maxConns int) (*Plane, Info) {
	t.Helper()
	cfg := Config{Network: gossip.TCP{}, MaxFrame: 1 << 20, MaxConns: maxConns, HelloTimeout: 300 * time.Millisecond,
		IdleTimeout: time.Minute, Hello: func() wire.Hello { return wire.Hello{Name: name, Origin: name + "~1"} },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	p, err := Listen(cfg, "127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { p.Serve(); close(done) }()
	t.Cleanup(func() {
		p.Close()
		<-done
	})
	return p, Info{Name: name, Peer: p.Addr().String(), Origin: name + "~1", Ready: true}
}

func TestRequestPushTell(t *testing.T) {
	hb := &recorder{seen: make(chan struct{}, 1)}
	a, _ := testPlane(t, "a", &recorder{}, 8)
	_, b := testPlane(t, "b", hb, 8)
	ctx := context.Background()
	v, err := a.Vector(ctx, b)
	if err != nil || v.Name != "b" || v.Tock != 7 {
		t.Fatalf("vector: %+v, %v", v, err)
	}
	// An error from the handler comes back as the peer's Error frame and ends the exchange.
	err = a.Request(ctx, b, wire.MsgRepair, nil, func(byte, []byte) (bool, error) { return false, nil })
	if err == nil || !strings.Contains(err.Error(), "no repairs here") {
		t.Fatalf("request answered with an error frame: %v", err)
	}
	u := &node.Update{Origin: "a~1", Tick: 1, Tock: 1}
	a.Push(b, NewBatch([]*node.Update{u}))
	a.Push(b, NewBatch([]*node.Update{{Origin: "a~1", Tick: 2, Tock: 2}}))
	a.Tell(b, wire.MsgPurge, wire.AppendWatermark(nil, map[string]uint64{"a~1": 1}))
	hb.wait(t, 2)
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for i, f := range hb.from {
		if f != "a" {
			t.Errorf("frame %d came with hello %q, want a", i, f)
		}
	}
}

// Connections over the cap are closed at once; one that sends no Hello is closed after the
// Hello deadline and gives its slot back.
func TestConnCapAndHelloDeadline(t *testing.T) {
	_, b := testPlane(t, "b", &recorder{}, 2)
	// ask says Hello and asks for the vector: a served connection answers, and then holds its
	// slot for the idle timeout (a minute), not just the Hello deadline.
	ask := func() (net.Conn, error) {
		c, err := net.Dial("tcp", b.Peer)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		bw := bufio.NewWriter(c)
		gossip.WriteFrame(bw, wire.MsgHello, wire.Hello{Name: "raw", Origin: "raw~1"}.Append(nil))
		gossip.WriteFrame(bw, wire.MsgVectorReq, nil)
		bw.Flush()
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, _, err = gossip.ReadFrame(bufio.NewReader(c), 1<<20, nil)
		return c, err
	}
	var held []net.Conn
	for range 2 {
		c, err := ask()
		if err != nil {
			t.Fatalf("a connection under the cap: %v", err)
		}
		held = append(held, c)
	}
	if _, err := ask(); err == nil {
		t.Fatal("a connection over the cap was served")
	}
	for _, c := range held {
		c.Close()
	}
	silent, err := net.Dial("tcp", b.Peer)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetReadDeadline(time.Now().Add(30 * time.Second))
	var ne net.Error
	if _, err := silent.Read(make([]byte, 1)); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("a connection without Hello was kept past the deadline: %v", err)
	}
	a, _ := testPlane(t, "a", &recorder{}, 2)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := a.Vector(context.Background(), b); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("slots not given back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close ends a push stream that cannot reach its peer and a request in flight.
func TestCloseCutsShort(t *testing.T) {
	a, _ := testPlane(t, "a", &recorder{}, 8)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan struct{}, 8)
	go func() { // accepts and never answers
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			accepted <- struct{}{}
		}
	}()
	silent := Info{Name: "s", Peer: l.Addr().String()}
	a.Push(silent, NewBatch([]*node.Update{{Origin: "a~1", Tick: 1, Tock: 1}}))
	errc := make(chan error, 1)
	go func() { _, err := a.Vector(context.Background(), silent); errc <- err }()
	for range 2 { // the push stream and the request are connected
		select {
		case <-accepted:
		case <-time.After(10 * time.Second):
			t.Fatal("the push stream and the request did not both connect")
		}
	}
	done := make(chan struct{})
	go func() { a.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("a request to a silent peer succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the request in flight")
	}
}

func TestPullerSourcesAndPullAll(t *testing.T) {
	missing := node.NewRangeSet(node.Range{Start: 1, End: 11})
	var mu sync.Mutex
	var from []string
	pl := &Puller{
		Peers: func() []Info { return []Info{{Name: "x"}, {Name: "n1"}, {Name: "hinted"}} },
		Missing: func(string) node.RangeSet {
			mu.Lock()
			defer mu.Unlock()
			return missing.Clone()
		},
		Known: func(string) node.RangeSet {
			mu.Lock()
			defer mu.Unlock()
			return node.Upto(10).Minus(missing)
		},
		Pull: func(_ context.Context, src Info, _ string, ticks node.RangeSet) error {
			mu.Lock()
			defer mu.Unlock()
			from = append(from, src.Name)
			// each reply brings 4 ticks
			var got node.RangeSet
			for _, r := range ticks.Ranges() {
				for t := r.Start; t < r.End && got.Len() < 4; t++ {
					got.Add(t)
				}
			}
			missing = missing.Minus(got)
			return nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	pl.Hint("hinted")
	src, ok := pl.source("n1~5", "hinted")
	if !ok || src.Name != "n1" {
		t.Fatalf("first source for n1's ticks: %v, want n1 itself", src.Name)
	}
	pl.init()
	pl.tries["n1~5"] = 1
	if src, _ := pl.source("n1~5", "hinted"); src.Name != "hinted" {
		t.Fatalf("second source: %v, want the hinted member", src.Name)
	}
	if err := pl.PullAll(context.Background(), Info{Name: "n1"}, "n1~5", missing.Clone()); err != nil {
		t.Fatal(err)
	}
	if !missing.Empty() || len(from) != 3 {
		t.Fatalf("after PullAll: missing %s after %d pulls, want none after 3", missing, len(from))
	}
}

// TestPullAllOneAtATime: pulls of one origin wait for each other and the later ones ask only
// for what the earlier ones did not bring; pulls of another origin run alongside.
func TestPullAllOneAtATime(t *testing.T) {
	var mu sync.Mutex
	missing := map[string]node.RangeSet{
		"a~1": node.NewRangeSet(node.Range{Start: 1, End: 9}),
		"b~1": node.NewRangeSet(node.Range{Start: 1, End: 3}),
	}
	inFlight := map[string]int{}
	var asked []string
	gate := make(chan struct{})
	pl := &Puller{
		Missing: func(o string) node.RangeSet {
			mu.Lock()
			defer mu.Unlock()
			return missing[o].Clone()
		},
		Known: func(o string) node.RangeSet {
			mu.Lock()
			defer mu.Unlock()
			return node.Upto(8).Minus(missing[o])
		},
		Pull: func(ctx context.Context, _ Info, o string, ticks node.RangeSet) error {
			mu.Lock()
			inFlight[o]++
			if inFlight[o] > 1 {
				t.Errorf("%d pulls of %s at once", inFlight[o], o)
			}
			asked = append(asked, o+":"+ticks.String())
			mu.Unlock()
			if o == "a~1" {
				select {
				case <-gate:
				case <-ctx.Done():
					mu.Lock()
					inFlight[o]--
					mu.Unlock()
					return ctx.Err()
				}
			}
			mu.Lock()
			missing[o] = missing[o].Minus(ticks)
			inFlight[o]--
			mu.Unlock()
			return nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	all := node.NewRangeSet(node.Range{Start: 1, End: 9})
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pl.PullAll(context.Background(), Info{Name: "x"}, "a~1", all.Clone()); err != nil {
				t.Error(err)
			}
		}()
	}
	// Another origin is not held up by the first one's pull.
	if err := pl.PullAll(context.Background(), Info{Name: "x"}, "b~1", node.NewRangeSet(node.Range{Start: 1, End: 3})); err != nil {
		t.Fatal(err)
	}
	// A caller whose context ends while it waits gives up.
	for {
		mu.Lock()
		n := inFlight["a~1"]
		mu.Unlock()
		if n >= 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := pl.PullAll(ctx, Info{Name: "x"}, "a~1", all.Clone()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a pull waiting past its context: err = %v, want DeadlineExceeded", err)
	}
	close(gate) // (without the one-at-a-time rule, the other PullAlls are blocked in Pull here)
	wg.Wait()
	if want := []string{"b~1:1-2", "a~1:1-8"}; !slices.Equal(asked, want) && !slices.Equal(asked, []string{"a~1:1-8", "b~1:1-2"}) {
		t.Errorf("pulls asked %v, want %v (in either order)", asked, want)
	}
}

// TestPullAllTicksNeverHeardOf: a housekeeper's repair may name ticks above the highest this
// node heard of (a side's last writes, whose gossip it missed during a partition). They are not
// missing here, yet PullAll must ask for them: else the repair never lands and the node stays
// behind for good.
func TestPullAllTicksNeverHeardOf(t *testing.T) {
	var mu sync.Mutex
	known := node.Upto(5) // highest heard of: 5, nothing missing
	var asked []string
	pl := &Puller{
		Missing: func(string) node.RangeSet { return node.RangeSet{} },
		Known: func(string) node.RangeSet {
			mu.Lock()
			defer mu.Unlock()
			return known.Clone()
		},
		Pull: func(_ context.Context, _ Info, _ string, ticks node.RangeSet) error {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, ticks.String())
			known.AddSet(ticks)
			return nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if err := pl.PullAll(context.Background(), Info{Name: "x"}, "a~1", node.NewRangeSet(node.Range{Start: 4, End: 9})); err != nil {
		t.Fatal(err)
	}
	if want := node.NewRangeSet(node.Range{Start: 6, End: 9}).String(); len(asked) != 1 || asked[0] != want {
		t.Fatalf("pulls asked %v, want one of %s (the ticks not known yet)", asked, want)
	}
}
