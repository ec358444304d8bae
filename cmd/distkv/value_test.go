package main

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
)

func TestParseValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
	}{
		// scalars
		{"hello", "hello"},
		{"hello world", "hello world"},
		{"42", int64(42)},
		{"-7", int64(-7)},
		{"0x10", int64(16)},
		{"1_000", int64(1000)},
		{"18446744073709551615", uint64(math.MaxUint64)},
		{"1.5", 1.5},
		{"1e3", 1000.0},
		{"true", true},
		{"false", false},
		{"null", nil},
		{"~", nil},
		{"", nil},
		{"  \n", nil},
		{"'42'", "42"},
		{`"true"`, "true"},
		{"'null'", "null"},
		{"2024-01-01", "2024-01-01"}, // an untagged date stays a string
		{"a.b:42", "a.b:42"},
		{"!!str 42", "42"},
		{"!!float 1", 1.0},
		{"!!binary aGk=", []byte("hi")},
		{"!!timestamp 2024-01-02T03:04:05Z", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"!path a.b:42", node.Path{node.String("a"), node.String("b"), node.Int(42)}},
		// structures
		{"[1, 2]", []any{int64(1), int64(2)}},
		{"[]", []any{}},
		{"{}", orderedMap{}},
		{"{a: 1}", orderedMap{{"a", int64(1)}}},
		{"{b: 1, a: [x, 2.5, null]}", orderedMap{{"b", int64(1)}, {"a", []any{"x", 2.5, nil}}}},
		{"{1: one, true: yes, null: no}", orderedMap{{int64(1), "one"}, {true, "yes"}, {nil, "no"}}},
		{"- a\n- b: [1]\n  c: d\n", []any{"a", orderedMap{{"b", []any{int64(1)}}, {"c", "d"}}}},
		{"[&x a, *x]", []any{"a", "a"}},
		{"--- 5\n", int64(5)},
		{"# just a comment\n7", int64(7)},
	} {
		raw, err := parseValue([]byte(tc.in), false)
		if err != nil {
			t.Errorf("parseValue(%q): %v", tc.in, err)
			continue
		}
		got, err := decodeValue(raw)
		if err != nil {
			t.Errorf("parseValue(%q) = %x does not decode: %v", tc.in, raw, err)
			continue
		}
		if tm, ok := tc.want.(time.Time); ok {
			if gt, ok := got.(time.Time); !ok || !gt.Equal(tm) {
				t.Errorf("parseValue(%q) = %#v, want %v", tc.in, got, tm)
			}
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseValue(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestParseValueBytes(t *testing.T) {
	// The encodings are the smallest ones, as every msgpack client expects.
	for _, tc := range []struct {
		in   string
		want []byte
	}{
		{"42", []byte{0x2a}},
		{"-1", []byte{0xff}},
		{"300", []byte{0xcd, 0x01, 0x2c}},
		{"hi", []byte{0xa2, 'h', 'i'}},
		{"null", []byte{0xc0}},
		{"[1, true]", []byte{0x92, 0x01, 0xc3}},
		{"{a: 1}", []byte{0x81, 0xa1, 'a', 0x01}},
		{"!!binary aGk=", []byte{0xc4, 0x02, 'h', 'i'}},
	} {
		got, err := parseValue([]byte(tc.in), false)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("parseValue(%q) = %x, %v; want %x", tc.in, got, err, tc.want)
		}
	}
}

func TestParseValueString(t *testing.T) {
	for _, in := range []string{"42", "true", "null", "", "[1, 2]", "{a: 1}", "two\nlines\n", "!!binary aGk=", "{a: 1, a: 2}"} {
		raw, err := parseValue([]byte(in), true)
		if err != nil {
			t.Errorf("--string %q: %v", in, err)
			continue
		}
		if got, err := decodeValue(raw); err != nil || got != in {
			t.Errorf("--string %q = %#v, %v", in, got, err)
		}
	}
}

func TestParseValueErrors(t *testing.T) {
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'j'; i++ {
		prev := string(i - 1)
		laughs += string(i) + ": &" + string(i) + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
			", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
	}
	for _, tc := range []struct{ in, msg string }{
		{"[1", "did not find expected"},
		{"{a: 1, a: 2}", "duplicate key"},
		{"{[1]: a, [1]: b}", "duplicate key"},
		{"!foo x", "not supported"},
		{"!!binary not*base64", "!!binary"},
		{"!path a..b", "!path"},
		{"a: 1\n---\nb: 2\n", "more than one YAML document"},
		{strings.Repeat("[", 70) + strings.Repeat("]", 70), "nested deeper"},
		{laughs, "more than"},
	} {
		_, err := parseValue([]byte(tc.in), false)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("parseValue(%.40q): %v, want an error with %q", tc.in, err, tc.msg)
		}
	}
}

func TestValueArg(t *testing.T) {
	raw, err := valueArg("-", false, strings.NewReader("[1, 2]\n"))
	if err != nil || !bytes.Equal(raw, []byte{0x92, 1, 2}) {
		t.Errorf("valueArg(-) = %x, %v", raw, err)
	}
	raw, err = valueArg("-", true, strings.NewReader("x\n"))
	if err != nil || !bytes.Equal(raw, []byte{0xa2, 'x', '\n'}) {
		t.Errorf("valueArg(-, --string) = %x, %v", raw, err)
	}
	_, err = valueArg("{", false, strings.NewReader(""))
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitUsage || !strings.HasPrefix(ee.msg, "bad VALUE: ") {
		t.Errorf("bad VALUE: %v", err)
	}
}
