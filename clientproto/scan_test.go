package clientproto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Helpers here are prefixed scanT so that they cannot collide with the rest of the
// package's tests.

type scanTCase struct {
	name string
	b    []byte
}

// scanTExt encodes itself as a msgpack ext of the given type and data.
type scanTExt struct {
	id   int8
	data []byte
}

func (x scanTExt) EncodeMsgpack(e *msgpack.Encoder) error {
	if err := e.EncodeExtHeader(x.id, len(x.data)); err != nil {
		return err
	}
	_, err := e.Writer().Write(x.data)
	return err
}

// scanTRequest is shaped like a client request.
type scanTRequest struct {
	Action string            `msgpack:"action"`
	Seq    int64             `msgpack:"seq"`
	Path   scanTExt          `msgpack:"path"`
	Value  any               `msgpack:"value"`
	Chain  int               `msgpack:"nchain,omitempty"`
	Iter   bool              `msgpack:"iter"`
	Tags   map[string]string `msgpack:"tags"`
}

func scanTEncode(tb testing.TB, compact bool, fn func(e *msgpack.Encoder) error) []byte {
	tb.Helper()
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	e.SetSortMapKeys(true)
	e.UseCompactInts(compact)
	e.UseCompactFloats(compact)
	if err := fn(e); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func scanTValue(tb testing.TB, compact bool, v any) []byte {
	tb.Helper()
	return scanTEncode(tb, compact, func(e *msgpack.Encoder) error { return e.Encode(v) })
}

// scanTPath is a node.Path-like ext 3: concatenated element encodings.
func scanTPath(tb testing.TB, elems ...any) scanTExt {
	var data []byte
	for _, el := range elems {
		data = append(data, scanTValue(tb, true, el)...)
	}
	return scanTExt{id: 3, data: data}
}

// scanTNested returns depth arrays each holding the next, the innermost holding inner.
func scanTNested(depth int, inner []byte) []byte {
	if inner == nil {
		return append(bytes.Repeat([]byte{0x91}, depth-1), 0x90)
	}
	return append(bytes.Repeat([]byte{0x91}, depth), inner...)
}

func scanTRequestMsg(tb testing.TB) []byte {
	return scanTValue(tb, true, scanTRequest{
		Action: "set_value",
		Seq:    12345,
		Path:   scanTPath(tb, "config", "services", "frontend", int64(3), "timeout"),
		Value: map[string]any{
			"timeout_ms": 2500, "retries": 3, "backoff": 1.5, "enabled": true,
			"hosts": []string{"web-1.example.net", "web-2.example.net", "web-3.example.net"},
			"owner": "ops-team", "note": "raised after incident 4711",
		},
		Chain: 2,
		Iter:  false,
		Tags:  map[string]string{"client": "distkv-go/1.0", "trace": "9f86d081884c7d65"},
	})
}

// scanTCases returns encodings of every msgpack format, produced by msgpack/v5.
func scanTCases(tb testing.TB) []scanTCase {
	tb.Helper()
	var cs []scanTCase
	add := func(name string, b []byte) { cs = append(cs, scanTCase{name, b}) }
	val := func(name string, v any) { add(name, scanTValue(tb, false, v)) }
	compact := func(name string, v any) { add(name, scanTValue(tb, true, v)) }
	enc := func(name string, fn func(e *msgpack.Encoder) error) { add(name, scanTEncode(tb, false, fn)) }

	// Scalars.
	compact("posfixint 0", 0)
	compact("posfixint 127", 127)
	compact("negfixint -1", -1)
	compact("negfixint -32", -32)
	val("nil", nil)
	val("false", false)
	val("true", true)
	enc("uint8", func(e *msgpack.Encoder) error { return e.EncodeUint8(200) })
	enc("uint16", func(e *msgpack.Encoder) error { return e.EncodeUint16(60000) })
	enc("uint32", func(e *msgpack.Encoder) error { return e.EncodeUint32(4000000000) })
	enc("uint64", func(e *msgpack.Encoder) error { return e.EncodeUint64(math.MaxUint64) })
	enc("int8", func(e *msgpack.Encoder) error { return e.EncodeInt8(-100) })
	enc("int16", func(e *msgpack.Encoder) error { return e.EncodeInt16(-30000) })
	enc("int32", func(e *msgpack.Encoder) error { return e.EncodeInt32(math.MinInt32) })
	enc("int64", func(e *msgpack.Encoder) error { return e.EncodeInt64(math.MinInt64) })
	val("int64 default for int", 5)
	compact("compact uint16", 300)
	compact("compact int16", -200)
	compact("compact uint32", 1<<20)
	compact("compact int64", int64(-1)<<40)
	compact("compact uint64", uint64(math.MaxUint64))
	val("go int8", int8(-7))
	val("go uint16", uint16(65535))
	val("float32", float32(1.5))
	val("float64", math.Pi)
	compact("compact float64 as float32", 0.25)
	val("float64 NaN", math.NaN())
	val("float64 -Inf", math.Inf(-1))

	// Strings and binary.
	val("fixstr empty", "")
	val("fixstr", "hello")
	val("fixstr 31", strings.Repeat("s", 31))
	val("str8", strings.Repeat("é", 20))
	val("str8 255", strings.Repeat("x", 255))
	val("str16", strings.Repeat("y", 300))
	val("str16 65535", strings.Repeat("z", 65535))
	val("str32", strings.Repeat("w", 70000))
	val("bin8 empty", []byte{})
	val("bin8", bytes.Repeat([]byte{0xc1}, 100))
	val("bin16", bytes.Repeat([]byte{0xdd, 0xff}, 500))
	val("bin32", bytes.Repeat([]byte{0xdf}, 70000))

	// Extensions: types 2 and 3 of every size, and time.Time (ext -1).
	for _, n := range []int{1, 2, 4, 8, 16} {
		val(fmt.Sprintf("fixext%d", n), scanTExt{id: 2, data: bytes.Repeat([]byte{0xc1}, n)})
	}
	val("ext8 empty", scanTExt{id: 2})
	val("ext8", scanTExt{id: 3, data: []byte{0xa1, 'a', 0x01, 0xa1, 'b'}})
	val("ext8 255", scanTExt{id: 2, data: bytes.Repeat([]byte{0xdc}, 255)})
	val("ext16", scanTExt{id: 2, data: bytes.Repeat([]byte{0xc9}, 300)})
	val("ext32", scanTExt{id: 3, data: bytes.Repeat([]byte{0xdb}, 70000)})
	val("ext3 path", scanTPath(tb, "a", int64(1), "b", nil, true, 2.5, []byte("raw")))
	val("ext negative type", scanTExt{id: -128, data: []byte{1, 2, 3}})
	val("time", time.Unix(1700000000, 123456789).UTC())
	val("time seconds", time.Unix(1, 0).UTC())

	// Containers.
	val("fixarray empty", []int{})
	compact("fixarray", []any{1, "two", 3.0, nil, true})
	compact("fixarray 15", make([]int8, 15))
	compact("array16", make([]int8, 16))
	compact("array16 65535", make([]int8, 65535))
	compact("array32", make([]int8, 70000))
	val("fixmap empty", map[string]any{})
	compact("fixmap", map[string]any{"a": 1, "b": "x", "c": nil})
	m16 := map[string]int{}
	for i := range 40 {
		m16[fmt.Sprintf("key%02d", i)] = i * 1000
	}
	compact("map16", m16)
	add("map32", scanTEncode(tb, true, func(e *msgpack.Encoder) error {
		if err := e.EncodeMapLen(70000); err != nil {
			return err
		}
		for i := range 70000 {
			if err := e.EncodeInt(int64(i)); err != nil {
				return err
			}
			if err := e.EncodeNil(); err != nil {
				return err
			}
		}
		return nil
	}))
	compact("nested", map[string]any{
		"list":  []any{1, []any{2, []any{3, map[string]any{"deep": []byte("x")}}}, map[string]any{}},
		"map":   map[string]any{"x": map[string]any{"y": map[string]any{"z": []any{}}}},
		"mixed": []any{int64(math.MaxInt64), uint64(math.MaxUint64), -1.25, "", []byte{}, scanTExt{id: 2, data: []byte{9}}},
		"big":   strings.Repeat("b", 1000),
	})
	val("nested default ints", map[string]any{"a": []int{1, 2, 3}, "b": map[string]int{"c": 4}})
	val("struct", struct {
		A int
		B []string
		C map[string][]float32
	}{A: 1, B: []string{"x", "y"}, C: map[string][]float32{"f": {1, 2}}})
	add("request", scanTRequestMsg(tb))
	add("depth 64 arrays", scanTNested(MaxDepth, nil))
	add("depth 64 arrays around a map", scanTNested(MaxDepth-1, []byte{0x81, 0xa1, 'k', 0x01}))
	add("depth 64 maps", append(bytes.Repeat([]byte{0x81, 0x01}, MaxDepth-1), 0x80))
	add("array of 64-deep arrays", append([]byte{0x93}, bytes.Repeat(scanTNested(MaxDepth-1, nil), 3)...))
	return cs
}

// scanTClass names the format of a type byte, independently of scan.go's table.
func scanTClass(c byte) string {
	switch {
	case c <= 0x7f:
		return "posfixint"
	case c <= 0x8f:
		return "fixmap"
	case c <= 0x9f:
		return "fixarray"
	case c <= 0xbf:
		return "fixstr"
	case c >= 0xe0:
		return "negfixint"
	}
	return [...]string{
		"nil", "never used", "false", "true", "bin8", "bin16", "bin32", "ext8", "ext16", "ext32",
		"float32", "float64", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
		"fixext1", "fixext2", "fixext4", "fixext8", "fixext16", "str8", "str16", "str32",
		"array16", "array32", "map16", "map32",
	}[c-0xc0]
}

// scanTReaders are the ways a test feeds bytes to ReadMessage.
var scanTReaders = []struct {
	name string
	wrap func(b []byte) *bufio.Reader
}{
	{"bufio default", func(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }},
	{"bufio 16", func(b []byte) *bufio.Reader { return bufio.NewReaderSize(bytes.NewReader(b), 16) }},
	{"one byte", func(b []byte) *bufio.Reader {
		return bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(b)), 16)
	}},
	{"half", func(b []byte) *bufio.Reader { return bufio.NewReaderSize(iotest.HalfReader(bytes.NewReader(b)), 64) }},
	{"data+EOF", func(b []byte) *bufio.Reader { return bufio.NewReader(iotest.DataErrReader(bytes.NewReader(b))) }},
}

func TestReadMessageFormats(t *testing.T) {
	cases := scanTCases(t)
	classes := map[string]bool{}
	for _, c := range cases {
		classes[scanTClass(c.b[0])] = true
	}
	for i := 0; i < 0x100; i++ {
		if class := scanTClass(byte(i)); i != 0xc1 && !classes[class] {
			t.Errorf("no test case starts with a %s (0x%02x)", class, i)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The encoding is what msgpack/v5 itself skips over.
			br := bytes.NewReader(c.b)
			if err := msgpack.NewDecoder(br).Skip(); err != nil || br.Len() != 0 {
				t.Fatalf("msgpack Skip: %v, %d bytes left", err, br.Len())
			}
			if n, err := ScanMessage(c.b); err != nil || n != len(c.b) {
				t.Fatalf("ScanMessage = %d, %v; want %d", n, err, len(c.b))
			}
			trailer := []byte{0xc1, 0x00}
			for _, rd := range scanTReaders {
				r := rd.wrap(append(append([]byte{}, c.b...), trailer...))
				got, err := ReadMessage(r, len(c.b))
				if err != nil || !bytes.Equal(got, c.b) {
					t.Fatalf("%s: ReadMessage = % x..., %v; want % x...", rd.name, scanTHead(got), err, scanTHead(c.b))
				}
				// The bytes after the object are left in r.
				if rest, _ := io.ReadAll(r); !bytes.Equal(rest, trailer) {
					t.Fatalf("%s: left % x, want % x", rd.name, rest, trailer)
				}
			}
		})
	}
}

func scanTHead(b []byte) []byte { return b[:min(len(b), 16)] }

func TestReadMessageStream(t *testing.T) {
	cases := scanTCases(t)
	var stream []byte
	for _, c := range cases {
		stream = append(stream, c.b...)
	}
	for _, rd := range scanTReaders {
		t.Run(rd.name, func(t *testing.T) {
			r := rd.wrap(stream)
			var prev []byte
			for i, c := range cases {
				got, err := ReadMessage(r, 1<<20)
				if err != nil || !bytes.Equal(got, c.b) {
					t.Fatalf("message %d (%s): % x..., %v; want % x...", i, c.name, scanTHead(got), err, scanTHead(c.b))
				}
				// Each result is the caller's: reading on does not change it.
				if i > 0 && !bytes.Equal(prev, cases[i-1].b) {
					t.Fatalf("message %d (%s) changed after the next read", i-1, cases[i-1].name)
				}
				prev = got
			}
			for range 2 {
				if got, err := ReadMessage(r, 1<<20); err != io.EOF || got != nil {
					t.Fatalf("after the stream: %q, %v; want io.EOF", got, err)
				}
			}
		})
	}
	t.Run("ScanMessage", func(t *testing.T) {
		b := stream
		for i, c := range cases {
			n, err := ScanMessage(b)
			if err != nil || n != len(c.b) {
				t.Fatalf("message %d (%s): %d, %v; want %d", i, c.name, n, err, len(c.b))
			}
			b = b[n:]
		}
		if n, err := ScanMessage(b); err != io.EOF || n != 0 {
			t.Fatalf("after the stream: %d, %v; want io.EOF", n, err)
		}
	})
}

func TestReadMessageTruncated(t *testing.T) {
	for _, c := range scanTCases(t) {
		t.Run(c.name, func(t *testing.T) {
			// Every offset of small encodings; the edges and a sample of big ones.
			var offsets []int
			for off := range len(c.b) {
				if len(c.b) <= 512 || off < 16 || off > len(c.b)-16 || off%(len(c.b)/32) == 0 {
					offsets = append(offsets, off)
				}
			}
			for _, off := range offsets {
				want := io.ErrUnexpectedEOF
				if off == 0 {
					want = io.EOF
				}
				for _, max := range []int{len(c.b), math.MaxInt} {
					size := 16 // every header split across fills of the buffer
					if len(c.b) > 512 {
						size = 4096
					}
					got, err := ReadMessage(bufio.NewReaderSize(bytes.NewReader(c.b[:off]), size), max)
					if err != want || got != nil {
						t.Fatalf("truncated at %d of %d, max %d: %d bytes, %v; want %v", off, len(c.b), max, len(got), err, want)
					}
				}
				// In a buffer, a truncated object is both too large for the buffer
				// and unexpectedly ended.
				n, err := ScanMessage(c.b[:off])
				if !errors.Is(err, want) || n != 0 || (off > 0 && !errors.Is(err, ErrTooLarge)) {
					t.Fatalf("ScanMessage truncated at %d of %d: %d, %v; want %v", off, len(c.b), n, err, want)
				}
			}
		})
	}
}

// scanTAllocated runs fn runs times, each with its own reader made beforehand, and
// returns the bytes allocated per run.
func scanTAllocated(t *testing.T, input []byte, max int, runs int, check func(msg []byte, err error)) uint64 {
	t.Helper()
	readers := make([]*bufio.Reader, runs)
	for i := range readers {
		readers[i] = bufio.NewReader(bytes.NewReader(input))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, r := range readers {
		check(ReadMessage(r, max))
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

func TestReadMessageHostile(t *testing.T) {
	ff := []byte{0xff, 0xff, 0xff, 0xff}
	hdr := func(code byte, rest ...byte) []byte { return append([]byte{code}, rest...) }
	repeat := func(b []byte, n int) []byte { return bytes.Repeat(b, n) }
	tooLarge, malformed, eof := ErrTooLarge, ErrMalformed, io.ErrUnexpectedEOF
	cases := []struct {
		name  string
		input []byte
		// The error with max 1 MiB, and with no limit at all (math.MaxInt).
		wantMiB, wantNoMax error
	}{
		{"array32 2^32-1", hdr(0xdd, ff...), tooLarge, eof},
		{"map32 2^32-1", hdr(0xdf, ff...), tooLarge, eof},
		{"bin32 2^32-1", hdr(0xc6, ff...), tooLarge, eof},
		{"str32 2^32-1", hdr(0xdb, ff...), tooLarge, eof},
		{"ext32 2^32-1", hdr(0xc9, append(ff, 2)...), tooLarge, eof},
		{"ext32 2^32-1 no type", hdr(0xc9, ff...), eof, eof}, // header incomplete
		{"bin32 2^32-1 then 10 bytes", append(hdr(0xc6, ff...), make([]byte, 10)...), tooLarge, eof},
		{"array32 2^32-1 of arrays32", repeat(hdr(0xdd, ff...), 3), tooLarge, eof},
		{"array32 65536 then 10 bytes", append(hdr(0xdd, 0x00, 0x01, 0x00, 0x00), make([]byte, 10)...), eof, eof},
		{"fixmap 100 deep", repeat([]byte{0x81}, 100), malformed, malformed},
		{"fixmap 100 deep with keys", repeat([]byte{0x81, 0xa0}, 100), malformed, malformed},
		{"map16 100 deep", repeat([]byte{0xde, 0x00, 0x01}, 100), malformed, malformed},
		{"map32 100 deep", repeat([]byte{0xdf, 0x00, 0x00, 0x00, 0x01}, 100), malformed, malformed},
		{"map32 2^32-1 100 deep", repeat(hdr(0xdf, ff...), 100), tooLarge, malformed},
		{"array16 65535 100 deep", repeat([]byte{0xdc, 0xff, 0xff}, 100), tooLarge, malformed},
		{"array 65 deep, empty inside", scanTNested(MaxDepth+1, nil), malformed, malformed},
		{"0xc1", []byte{0xc1}, malformed, malformed},
		{"0xc1 in an array", []byte{0x92, 0x01, 0xc1}, malformed, malformed},
		{"0xc1 as a map key", []byte{0x81, 0xc1, 0x01}, malformed, malformed},
		{"float64 cut", []byte{0xcb, 0x01, 0x02}, eof, eof},
		{"str8 header cut", []byte{0xd9}, eof, eof},
		{"ext32 header cut", []byte{0xc9, 0x00, 0x00}, eof, eof},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, mc := range []struct {
				max  int
				want error
			}{{1 << 20, c.wantMiB}, {math.MaxInt, c.wantNoMax}} {
				check := func(msg []byte, err error) {
					if !errors.Is(err, mc.want) || msg != nil {
						t.Fatalf("max %d: %d bytes, %v; want %v", mc.max, len(msg), err, mc.want)
					}
				}
				perRun := scanTAllocated(t, c.input, mc.max, 100, check)
				t.Logf("max %d: %d bytes allocated per call", mc.max, perRun)
				if perRun > 16<<10 {
					t.Errorf("max %d: %d bytes allocated per call, want < 16 KiB", mc.max, perRun)
				}
			}
			// ScanMessage fails as ReadMessage does with max = len(b).
			n, serr := ScanMessage(c.input)
			_, rerr := ReadMessage(bufio.NewReader(bytes.NewReader(c.input)), len(c.input))
			if n != 0 || serr == nil || rerr == nil {
				t.Fatalf("ScanMessage = %d, %v; ReadMessage: %v", n, serr, rerr)
			}
			for _, e := range []error{tooLarge, malformed, eof} {
				if errors.Is(rerr, e) && !errors.Is(serr, e) {
					t.Fatalf("ScanMessage: %v; ReadMessage: %v", serr, rerr)
				}
			}
		})
	}
}

// scanTZeros is an endless stream of zero bytes that counts what it delivers.
type scanTZeros struct{ read int }

func (z *scanTZeros) Read(p []byte) (int, error) {
	clear(p)
	z.read += len(p)
	return len(p), nil
}

func TestReadMessageAllocationFollowsData(t *testing.T) {
	t.Run("refused before reading the payload", func(t *testing.T) {
		// A 4 GiB str32 followed by an endless stream: refused from the header,
		// without reading more than one buffer of the stream.
		z := &scanTZeros{}
		r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader([]byte{0xdb, 0xff, 0xff, 0xff, 0xff}), z), 16)
		if _, err := ReadMessage(r, 64<<20); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
		if z.read > 16 {
			t.Fatalf("read %d bytes of the payload", z.read)
		}
	})
	t.Run("limit checked before the header arrives", func(t *testing.T) {
		// A bin8 of 200 with max 100: refused from the first two bytes, even though
		// the reader fails after them.
		stop := errors.New("stop")
		r := bufio.NewReader(io.MultiReader(bytes.NewReader([]byte{0xc4, 200}), iotest.ErrReader(stop)))
		if _, err := ReadMessage(r, 100); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
		// A uint64 with max 5: refused from its type byte alone.
		r = bufio.NewReader(io.MultiReader(bytes.NewReader([]byte{0xcf}), iotest.ErrReader(stop)))
		if _, err := ReadMessage(r, 5); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("4 GiB claim, 100 KiB sent", func(t *testing.T) {
		input := append([]byte{0xc6, 0xff, 0xff, 0xff, 0xff}, make([]byte, 100<<10)...)
		perRun := scanTAllocated(t, input, math.MaxInt, 5, func(msg []byte, err error) {
			if err != io.ErrUnexpectedEOF {
				t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
			}
		})
		if perRun > 1<<20 {
			t.Fatalf("%d bytes allocated per call for 100 KiB received", perRun)
		}
	})
	t.Run("a message in one piece is copied once, exactly sized", func(t *testing.T) {
		msg := scanTRequestMsg(t)
		readers := make([]*bufio.Reader, 101)
		for i := range readers {
			readers[i] = bufio.NewReader(bytes.NewReader(msg))
			if _, err := readers[i].Peek(1); err != nil { // fill the buffer
				t.Fatal(err)
			}
		}
		var got []byte
		i := 0
		allocs := testing.AllocsPerRun(100, func() {
			got, _ = ReadMessage(readers[i], 1<<20)
			i++
		})
		if !bytes.Equal(got, msg) || cap(got) != len(msg) {
			t.Fatalf("got %d bytes, cap %d; want %d", len(got), cap(got), len(msg))
		}
		if allocs != 1 {
			t.Fatalf("%v allocations per read, want 1", allocs)
		}
	})
	t.Run("big message", func(t *testing.T) {
		msg := scanTValue(t, false, bytes.Repeat([]byte{7}, 4<<20))
		perRun := scanTAllocated(t, msg, len(msg), 3, func(got []byte, err error) {
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("err = %v", err)
			}
		})
		// Doubling from one buffer of input: 4 KiB + 8 KiB + ... + 4 MiB, then the
		// exact 4 MiB + 5: about 3 times the message, never a multiple of a claim.
		if perRun > 7*uint64(len(msg))/2 {
			t.Fatalf("%d bytes allocated for a %d-byte message", perRun, len(msg))
		}
	})
}

func TestReadMessageMax(t *testing.T) {
	for _, c := range scanTCases(t) {
		for _, max := range []int{len(c.b), len(c.b) - 1} {
			r := bufio.NewReaderSize(bytes.NewReader(c.b), 16)
			got, err := ReadMessage(r, max)
			if max == len(c.b) && (err != nil || !bytes.Equal(got, c.b)) {
				t.Errorf("%s: exactly at max %d: %d bytes, %v", c.name, max, len(got), err)
			}
			if max < len(c.b) && (!errors.Is(err, ErrTooLarge) || got != nil) {
				t.Errorf("%s: %d bytes with max %d: %d bytes, %v; want ErrTooLarge", c.name, len(c.b), max, len(got), err)
			}
		}
	}
	// The error says how large and what limit.
	_, err := ReadMessage(bufio.NewReader(bytes.NewReader([]byte{0x93, 1, 2, 3})), 3)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "at least 4 bytes, max 3") {
		t.Errorf("err = %v", err)
	}
	// Zero and negative limits refuse everything but the clean end.
	for _, max := range []int{0, -1} {
		if _, err := ReadMessage(bufio.NewReader(bytes.NewReader(nil)), max); err != io.EOF {
			t.Errorf("max %d, empty: %v", max, err)
		}
		if _, err := ReadMessage(bufio.NewReader(bytes.NewReader([]byte{0xc0})), max); !errors.Is(err, ErrTooLarge) {
			t.Errorf("max %d, nil: %v", max, err)
		}
	}
}

func TestReadMessageReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	msg := scanTRequestMsg(t)
	for _, off := range []int{0, 1, len(msg) / 2, len(msg) - 1} {
		r := bufio.NewReader(io.MultiReader(bytes.NewReader(msg[:off]), iotest.ErrReader(boom)))
		if got, err := ReadMessage(r, 1<<20); err != boom || got != nil {
			t.Errorf("error after %d bytes: %d bytes, %v; want boom", off, len(got), err)
		}
	}
	// An error before the first byte of an object (a read deadline on an idle
	// connection) consumes nothing: the next call reads the object.
	r := bufio.NewReader(&scanTSteps{steps: []scanTStep{
		{msg[:10], nil}, {msg[10:], nil}, {nil, iotest.ErrTimeout}, {msg[:1], nil}, {msg[1:], nil},
	}})
	for i, want := range []error{nil, iotest.ErrTimeout, nil, io.EOF} {
		got, err := ReadMessage(r, 1<<20)
		if err != want || (err == nil && !bytes.Equal(got, msg)) {
			t.Fatalf("read %d: %d bytes, %v; want %v", i, len(got), err, want)
		}
	}
}

type scanTStep struct {
	b   []byte
	err error
}

// scanTSteps returns one step per Read.
type scanTSteps struct{ steps []scanTStep }

func (s *scanTSteps) Read(p []byte) (int, error) {
	if len(s.steps) == 0 {
		return 0, io.EOF
	}
	st := &s.steps[0]
	n := copy(p, st.b)
	st.b = st.b[n:]
	err := st.err
	if len(st.b) == 0 {
		s.steps = s.steps[1:]
	}
	return n, err
}

func TestScanMessage(t *testing.T) {
	msg := scanTRequestMsg(t)
	buf := append(append([]byte{}, msg...), 0xc1)
	var n int
	var err error
	if allocs := testing.AllocsPerRun(100, func() { n, err = ScanMessage(buf) }); allocs != 0 {
		t.Errorf("ScanMessage allocates %v times", allocs)
	}
	if err != nil || n != len(msg) {
		t.Fatalf("ScanMessage = %d, %v; want %d", n, err, len(msg))
	}
	if n, err := ScanMessage(nil); err != io.EOF || n != 0 {
		t.Fatalf("empty: %d, %v", n, err)
	}
	if _, err := ScanMessage(buf[len(msg):]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("0xc1: %v", err)
	}
}

// scanTCheck checks the properties ReadMessage and ScanMessage must have on any input.
func scanTCheck(t *testing.T, data []byte) {
	n, serr := ScanMessage(data)
	if serr == nil && (n <= 0 || n > len(data)) {
		t.Fatalf("ScanMessage = %d of %d bytes", n, len(data))
	}
	if serr != nil && !errors.Is(serr, io.EOF) && !errors.Is(serr, ErrTooLarge) && !errors.Is(serr, ErrMalformed) {
		t.Fatalf("ScanMessage: unexpected error %v", serr)
	}
	var small error // ReadMessage's error with max 64 KiB
	for _, max := range []int{len(data), 1 << 16} {
		var first []byte
		var firstErr error
		for i, rd := range []func([]byte) io.Reader{
			func(b []byte) io.Reader { return bytes.NewReader(b) },
			func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		} {
			r := bufio.NewReaderSize(rd(data), 16)
			msg, err := ReadMessage(r, max)
			if err == nil {
				if !bytes.HasPrefix(data, msg) || len(msg) == 0 || len(msg) > max {
					t.Fatalf("max %d: message of %d bytes is not a prefix of the %d-byte input", max, len(msg), len(data))
				}
				if serr != nil || n != len(msg) {
					t.Fatalf("max %d: ReadMessage read %d bytes, ScanMessage says %d, %v", max, len(msg), n, serr)
				}
				// The bytes after the object are left in r.
				rest := data[len(msg):]
				if next, _ := r.Peek(min(len(rest), 8)); !bytes.HasPrefix(rest, next) || len(next) != min(len(rest), 8) {
					t.Fatalf("max %d: the reader holds % x next, want % x", max, next, scanTHead(rest))
				}
			} else {
				var class error
				for _, e := range []error{io.ErrUnexpectedEOF, ErrTooLarge, ErrMalformed, io.EOF} {
					if errors.Is(err, e) {
						class = e
						break
					}
				}
				if class == nil || msg != nil {
					t.Fatalf("max %d: unexpected result %d bytes, %v", max, len(msg), err)
				}
				if class == io.EOF && len(data) != 0 {
					t.Fatalf("max %d: io.EOF on %d bytes", max, len(data))
				}
				// With the same limit, ScanMessage fails the same way.
				if max == len(data) && !errors.Is(serr, class) {
					t.Fatalf("ReadMessage: %v, ScanMessage: %v", err, serr)
				}
			}
			if max == 1<<16 {
				small = err
			}
			// Both readers give the same answer.
			if i == 0 {
				first, firstErr = msg, err
			} else if !bytes.Equal(msg, first) || (err == nil) != (firstErr == nil) ||
				(err != nil && err.Error() != firstErr.Error()) {
				t.Fatalf("max %d: readers disagree: %d bytes, %v vs %d bytes, %v", max, len(first), firstErr, len(msg), err)
			}
		}
	}
	// msgpack/v5 agrees on where the object ends.
	switch {
	case serr == nil:
		br := bytes.NewReader(data)
		if err := msgpack.NewDecoder(br).Skip(); err != nil {
			t.Fatalf("accepted %d bytes that msgpack Skip refuses: %v", n, err)
		}
		if used := len(data) - br.Len(); used != n {
			t.Fatalf("msgpack Skip used %d bytes, ScanMessage %d", used, n)
		}
	case errors.Is(serr, ErrTooLarge) && small == io.ErrUnexpectedEOF:
		// The object claims more than the input holds: msgpack must run out too.
		// (Only for claims under 64 KiB: msgpack/v5 allocates 1 MiB to skip a
		// larger bin, which would slow the fuzzer down a hundredfold.)
		br := bytes.NewReader(data)
		if err := msgpack.NewDecoder(br).Skip(); err == nil {
			t.Fatalf("msgpack Skip accepts %d bytes that ScanMessage calls truncated: %v", len(data)-br.Len(), serr)
		}
	}
}

func FuzzReadMessage(f *testing.F) {
	// Small seeds only: the fuzzer minimises every new input it finds, which takes
	// long for long ones.
	for _, c := range scanTCases(f) {
		if len(c.b) <= 512 {
			f.Add(c.b)
		}
	}
	ff := []byte{0xff, 0xff, 0xff, 0xff}
	for _, code := range []byte{0xc6, 0xc9, 0xdb, 0xdd, 0xdf} {
		f.Add(append([]byte{code}, ff...))
	}
	f.Add(bytes.Repeat([]byte{0x81}, 100))
	f.Add(bytes.Repeat([]byte{0xdf, 0xff, 0xff, 0xff, 0xff}, 100))
	f.Add(bytes.Repeat([]byte{0xdc, 0x00, 0x02}, 70))
	f.Add(scanTNested(MaxDepth+1, nil))
	f.Add([]byte{0x92, 0x01, 0xc1})
	f.Add([]byte{})
	f.Add([]byte{0xc7, 0x02, 0x03, 0xa1})
	f.Add(append(scanTRequestMsg(f), 0x93, 0x01))
	f.Fuzz(scanTCheck)
}

// scanTRepeat is an endless stream repeating b.
type scanTRepeat struct {
	b   []byte
	off int
}

func (r *scanTRepeat) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}

func BenchmarkReadMessage(b *testing.B) {
	msg := scanTRequestMsg(b)
	r := bufio.NewReaderSize(&scanTRepeat{b: msg}, 64<<10)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := ReadMessage(r, 1<<20)
		if err != nil || len(got) != len(msg) {
			b.Fatal(len(got), err)
		}
	}
	b.ReportMetric(float64(len(msg)), "msg-bytes")
}

func BenchmarkScanMessage(b *testing.B) {
	msg := scanTRequestMsg(b)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := ScanMessage(msg); err != nil || n != len(msg) {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkParseRequest is the client request decode after framing: a set_value as a client
// sends it, decoded into a Request.
func BenchmarkParseRequest(b *testing.B) {
	msg := scanTRequestMsg(b)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(msg); err != nil {
			b.Fatal(err)
		}
	}
}
