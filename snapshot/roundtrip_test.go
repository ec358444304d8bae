package snapshot

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/distkv/distkv/node"
)

var update = flag.Bool("update", false, "rewrite testdata/v1.dks")

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	h, us := testHeader(), testUpdates(42, 10_000)
	var tombstones, multi int
	for _, u := range us {
		if len(u.Ops) > 1 {
			multi++
		}
		for _, op := range u.Ops {
			if op.Delete {
				tombstones++
			}
		}
	}
	if tombstones < 500 || multi < 300 {
		t.Fatalf("test data has %d tombstones and %d multi-op updates, want many of both", tombstones, multi)
	}
	path := writeSnap(t, dir, FileName(7), h, us)

	gh, n, err := Verify(path)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if n != uint64(len(us)) {
		t.Fatalf("Verify count = %d, want %d", n, len(us))
	}
	sameHeader(t, gh, h)
	if !gh.Known["n2~1"].Equal(h.Known["n2~1"]) || gh.Highest["n2~1"] != 1<<40+5 {
		t.Fatalf("header vectors = %v %v", gh.Known, gh.Highest)
	}

	// Read again with the progress hooks: Offset only grows and ends at Size.
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st, _ := os.Stat(path)
	if r.Size() != st.Size() {
		t.Fatalf("Size() = %d, file has %d bytes", r.Size(), st.Size())
	}
	var got []*node.Update
	for last := r.Offset(); ; {
		u, err := r.Next()
		if r.Offset() <= last {
			t.Fatalf("Offset() = %d after %d: no progress", r.Offset(), last)
		}
		last = r.Offset()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next after %d entries: %v", len(got), err)
		}
		got = append(got, u)
	}
	if r.Offset() != r.Size() {
		t.Fatalf("at io.EOF Offset() = %d, Size() = %d", r.Offset(), r.Size())
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next after io.EOF = %v, want io.EOF again", err)
	}
	sameUpdates(t, got, us)
}

// TestEmpty: a snapshot of an empty tree, with a zero header, is valid.
func TestEmpty(t *testing.T) {
	path := writeSnap(t, t.TempDir(), FileName(1), Header{}, nil)
	h, n, err := Verify(path)
	if err != nil || n != 0 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
	if h.Known == nil || h.Highest == nil || h.Purge == nil {
		t.Fatalf("decoded maps must be non-nil so callers can add to them: %+v", h)
	}
}

// TestFormatV1 pins the version-1 bytes: a reader must read the committed
// file, and a writer must write it identically. A failure means the format
// changed, which needs a new version byte, not a new golden file.
func TestFormatV1(t *testing.T) {
	h := Header{Node: "golden", Origin: "golden~1", Created: 1_700_000_000, Tock: 300,
		Known:   map[string]node.RangeSet{"golden~1": node.Upto(3), "peer~2": node.NewRangeSet(node.Range{Start: 2, End: 3}, node.Range{Start: 5, End: 9})},
		Highest: map[string]uint64{"golden~1": 3, "peer~2": 8}, Purge: map[string]uint64{"golden~1": 1},
		LogSegment: 17, Entries: 3}
	us := []*node.Update{
		{Origin: "golden~1", Tick: 3, Tock: 300, Ops: []node.Op{{Path: node.StringPath("a", "b"), Value: node.AppendString(nil, "hello"), Chain: node.Chain{{Origin: "golden~1", Tick: 1}}}}},
		{Origin: "peer~2", Tick: 8, Tock: 250, Ops: []node.Op{{Path: node.StringPath("gone"), Delete: true}}},
		{Origin: "peer~2", Tick: 6, Tock: 200, Ops: []node.Op{
			{Path: node.Path{node.Int(1)}, Value: node.AppendUint(nil, 1)},
			{Path: node.Path{node.Int(2)}, Value: node.AppendBool(nil, false)},
		}},
	}
	golden := filepath.Join("testdata", "v1.dks")
	written, err := os.ReadFile(writeSnap(t, t.TempDir(), FileName(1), h, us))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(golden, written, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(written, want) {
		t.Fatalf("writer output differs from %s:\ngot\n%swant\n%s", golden, describe(written), describe(want))
	}
	gh, got, err := readPath(golden, ReaderOptions{})
	if err != nil {
		t.Fatalf("reading %s: %v", golden, err)
	}
	sameHeader(t, gh, h)
	sameUpdates(t, got, us)
}

// TestUnknownKeysSkipped: a later version may add header and trailer keys.
func TestUnknownKeysSkipped(t *testing.T) {
	nested := node.AppendString(node.AppendMapLen(nil, 1), "x") // {"x": [-5, nil]}
	nested = node.AppendNil(node.AppendInt(node.AppendArrayLen(nested, 2), -5))
	entry := testUpdates(3, 1)[0]
	data := newFile().
		record(minimalHeader("future", nested, "zz", node.AppendString(nil, "v2"))).
		record(entry.AppendMsgpack(nil)).
		trailer(1, "later", nested)
	h, us, err := readBytes(data)
	if err != nil {
		t.Fatalf("file with unknown keys: %v\n%s", err, describe(data))
	}
	if h.Node != "n" || h.LogSegment != 1 {
		t.Fatalf("header = %+v", h)
	}
	sameUpdates(t, us, []*node.Update{entry})
}
