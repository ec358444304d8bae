package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/vmihailenco/msgpack/v5"
)

// mp builds msgpack from pieces: the helpers below return encoded values.
func mp(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
func mstr(s string) []byte      { return node.AppendString(nil, s) }
func mbin(s string) []byte      { return node.AppendBinString(nil, s) }
func mint(i int64) []byte       { return node.AppendInt(nil, i) }
func mmap(n int) []byte         { return node.AppendMapLen(nil, n) }
func marr(n int) []byte         { return node.AppendArrayLen(nil, n) }

func TestJSONOfMsgpack(t *testing.T) {
	f32 := []byte{0xca, 0x3f, 0xc0, 0x00, 0x00} // float32 1.5
	ts, err := msgpack.Marshal(time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"nil", []byte{0xc0}, `null`},
		{"bools", mp(marr(2), []byte{0xc3, 0xc2}), `[true,false]`},
		{"ints", mp(marr(4), mint(1), mint(-300), node.AppendUint(nil, math.MaxUint64), mint(math.MinInt64)),
			`[1,-300,18446744073709551615,-9223372036854775808]`},
		{"float32", f32, `1.5`},
		{"float64", node.AppendFloat(nil, 0.1), `0.1`},
		{"nan", node.AppendFloat(nil, math.NaN()), `"NaN"`},
		{"inf", mp(marr(2), node.AppendFloat(nil, math.Inf(1)), node.AppendFloat(nil, math.Inf(-1))), `["Infinity","-Infinity"]`},
		{"string", mstr("a\"b\\c\n\t<&>é\x01"), `"a\"b\\c\n\t<&>é\u0001"`},
		{"invalid utf8", mstr("a\xffb"), `"a\ufffdb"`},
		{"bytes", mbin("hello"), `"aGVsbG8="`},
		{"empty bytes", mbin(""), `""`},
		{"map in order", mp(mmap(2), mstr("z"), mint(1), mstr("a"), mint(2)), `{"z":1,"a":2}`},
		{"int keys", mp(mmap(2), mint(1), mstr("one"), mint(-2), mstr("minus two")), `{"1":"one","-2":"minus two"}`},
		{"other keys", mp(mmap(5), []byte{0xc0}, mint(0), []byte{0xc3}, mint(1), mbin("k"), mint(2),
			node.AppendFloat(nil, 2.5), mint(3), mp(marr(2), mint(1), mstr("x")), mint(4)),
			`{"null":0,"true":1,"aw==":2,"2.5":3,"[1,\"x\"]":4}`},
		{"nested", mp(mmap(1), mstr("a"), mp(marr(2), mp(mmap(1), mstr("b"), mbin("\x00\xff")), []byte{0xc0})),
			`{"a":[{"b":"AP8="},null]}`},
		{"timestamp", ts, `"2024-01-02T03:04:05.000006Z"`},
		{"path", node.AppendPath(nil, node.Path{node.String("a"), node.Int(42)}), `"a:42"`},
		{"ext", mp(node.AppendExtHeader(nil, 9, 2), []byte{1, 2}), `{"ext":9,"data":"AQI="}`},
	} {
		v, err := decodeValue(tc.in)
		if err != nil {
			t.Errorf("%s: decode %x: %v", tc.name, tc.in, err)
			continue
		}
		got := string(appendJSON(nil, v))
		if got != tc.want {
			t.Errorf("%s: JSON %s, want %s", tc.name, got, tc.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("%s: invalid JSON %s", tc.name, got)
		}
	}
}

func TestDecodeHostile(t *testing.T) {
	for _, in := range [][]byte{
		{0xdd, 0xff, 0xff, 0xff, 0xff},       // array32 of 4G elements in 0 bytes
		{0xdf, 0x7f, 0xff, 0xff, 0xff},       // map32
		{0xc6, 0xff, 0xff, 0xff, 0xff, 0x00}, // bin32
		{0x92, 0x01},                         // short array
		{0x01, 0x02},                         // trailing bytes
		{0xc1},                               // never used
		bytes.Repeat([]byte{0x91}, 200),      // too deep
	} {
		if v, err := decodeValue(in); err == nil {
			t.Errorf("decodeValue(%x) = %v, want an error", in, v)
		}
	}
	if v := decodeLenient([]byte{0x92, 0x01}); string(appendJSON(nil, v)) != `{"msgpack":"kgE="}` {
		t.Errorf("decodeLenient: %s", appendJSON(nil, v))
	}
}

func TestYAMLOutput(t *testing.T) {
	dec := func(b []byte) any {
		v, err := decodeValue(b)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		in            []byte
		block, inline string
	}{
		{mstr("hello"), "hello\n", "hello"},
		{mstr("42"), "\"42\"\n", `"42"`},
		{mstr("a: b"), "'a: b'\n", `'a: b'`},
		{mstr("two\nlines"), "|-\n  two\n  lines\n", `"two\nlines"`},
		{mint(42), "42\n", "42"},
		{node.AppendFloat(nil, 2), "2.0\n", "2.0"},
		{node.AppendFloat(nil, math.NaN()), ".nan\n", ".nan"},
		{mbin("hi"), "!!binary aGk=\n", "!!binary aGk="},
		{[]byte{0xc0}, "null\n", "null"},
		{mp(marr(2), mint(1), mstr("x")), "- 1\n- x\n", "[1, x]"},
		{mp(mmap(2), mstr("b"), mint(1), mint(7), mp(marr(1), mbin("\x00"))), "b: 1\n7:\n  - !!binary AA==\n", "{b: 1, 7: [!!binary AA==]}"},
		{node.AppendPath(nil, node.Path{node.String("a"), node.Int(1)}), "!path a:1\n", "!path a:1"},
	} {
		v := dec(tc.in)
		block, err := formatYAML(v)
		if err != nil || block != tc.block {
			t.Errorf("formatYAML(%x) = %q, %v; want %q", tc.in, block, err, tc.block)
		}
		if got := formatInline(v); got != tc.inline {
			t.Errorf("formatInline(%x) = %q, want %q", tc.in, got, tc.inline)
		}
		// What we print as YAML reads back as the same value.
		back, err := parseValue([]byte(block), false)
		if err != nil {
			t.Errorf("parseValue(%q): %v", block, err)
		} else if got := string(appendJSON(nil, dec(back))); got != string(appendJSON(nil, v)) && !strings.Contains(got, "NaN") {
			t.Errorf("YAML round trip of %x: %s, want %s", tc.in, got, appendJSON(nil, v))
		}
	}
}

func TestStatusText(t *testing.T) {
	st := orderedMap{
		{"seq", int64(1)}, {"node", "n1"}, {"origin", "n1~5"}, {"tick", int64(7)}, {"tock", int64(9)},
		{"entries", int64(3)}, {"ready", true}, {"digest", []any{uint64(1), uint64(255)}},
		{"nodes", orderedMap{{"n1~5", int64(7)}, {"n2~1", int64(4)}}},
		{"known", orderedMap{{"n1~5", []any{[]any{int64(1), int64(8)}}}, {"n2~1", []any{int64(1), []any{int64(3), int64(5)}}}}},
		{"missing", orderedMap{{"n2~1", []any{int64(2)}}}},
		{"stats", orderedMap{{"local", int64(7)}, {"applied", int64(3)}}},
		{"members", []any{"n1", "n2"}},
	}.without("seq")
	var b strings.Builder
	writeStatus(&b, st)
	out := b.String()
	for _, want := range []string{
		"node:     n1\n", "tick:     7\n", "digest:   000000000000000100000000000000ff\n",
		"  n1~5  highest 7  known 1-7  missing none\n",
		"  n2~1  highest 4  known 1,3-4  missing 2\n",
		"stats:    local 7, applied 3\n",
		"members:\n  - n1\n  - n2\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "seq") {
		t.Errorf("status shows seq:\n%s", out)
	}
	// A server that names its digest version: shown with the digest, not again below.
	b.Reset()
	writeStatus(&b, append(st, orderedMap{{"digest_version", int64(2)}}...))
	if out := b.String(); !strings.Contains(out, "digest:   000000000000000100000000000000ff (hash v2)\n") || strings.Contains(out, "digest_version") {
		t.Errorf("status with digest_version:\n%s", out)
	}
}

func TestPercentile(t *testing.T) {
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = time.Duration(100-i) * time.Millisecond
	}
	var r benchResult
	r.setLatencies(lat)
	if r.ops != 100 || r.p50 != 50*time.Millisecond || r.p90 != 90*time.Millisecond || r.p99 != 99*time.Millisecond || r.max != 100*time.Millisecond {
		t.Errorf("percentiles: %+v", r)
	}
	if percentile(nil, 50) != 0 || percentile([]time.Duration{5}, 99) != 5 {
		t.Error("percentile of 0 or 1 latencies")
	}
}

func TestParseSizeAndLink(t *testing.T) {
	for in, want := range map[string]int{"1": 1, "1024": 1024, "4k": 4096, "4KiB": 4096, "1MiB": 1 << 20, "2 MB": 2 << 20, "1g": 1 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "x", "1.5M", "9999999G"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) did not fail", in)
		}
	}
	if l, err := parseLink("a:b~7:12"); err != nil || l != (node.Link{Origin: "a:b~7", Tick: 12}) {
		t.Errorf("parseLink: %v, %v", l, err)
	}
	for _, in := range []string{"x", ":5", "x:", "x:0", "x:-1"} {
		if _, err := parseLink(in); err == nil {
			t.Errorf("parseLink(%q) did not fail", in)
		}
	}
}

// The CLI's own records are Go maps: JSON objects with sorted keys (keyring --json's shape).
func TestJSONGoMaps(t *testing.T) {
	v := map[string]any{"nodes": 2, "responses": 2, "keys": map[string]int{"k2": 1, "k1": 2}, "primary": map[string]int{}}
	want := `{"keys":{"k1":2,"k2":1},"nodes":2,"primary":{},"responses":2}`
	if got := string(appendJSON(nil, v)); got != want {
		t.Errorf("appendJSON = %s, want %s", got, want)
	}
}
