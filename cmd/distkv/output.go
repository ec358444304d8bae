package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
	"go.yaml.in/yaml/v3"
)

// Values from the server are raw msgpack. decodeValue turns one into a plain Go tree that keeps
// what JSON and YAML output need: map order and key types, str vs bin, ext types. The types are:
// nil, bool, int64 (uint64 above MaxInt64), float64, string, []byte, []any, orderedMap,
// time.Time (ext -1), node.Path (ext 3) and extValue. Its reader checks every length and count
// against the bytes really there, so a hostile value cannot make it allocate more than its own
// size. (node.Reader does that too, but refuses NaN and infinities, which are path rules.)

// maxValueDepth bounds the nesting of a value we decode (the server's reader allows 64).
const maxValueDepth = 100

type mapItem struct {
	Key, Value any
}

// orderedMap is a msgpack map in wire order.
type orderedMap []mapItem

func (m orderedMap) get(k string) (any, bool) {
	for _, it := range m {
		if s, ok := it.Key.(string); ok && s == k {
			return it.Value, true
		}
	}
	return nil, false
}

func (m orderedMap) without(k string) orderedMap {
	out := make(orderedMap, 0, len(m))
	for _, it := range m {
		if s, ok := it.Key.(string); ok && s == k {
			continue
		}
		out = append(out, it)
	}
	return out
}

// extValue is a msgpack ext value of a type we do not interpret.
type extValue struct {
	Type int8
	Data []byte
}

// rawValue is a value that did not decode; it is shown as its base64 msgpack.
type rawValue []byte

// decodeValue decodes one msgpack value that must fill b.
func decodeValue(b []byte) (any, error) {
	r := &mpReader{b: b}
	v, err := r.value(0)
	if err != nil {
		return nil, err
	}
	if r.left() != 0 {
		return nil, fmt.Errorf("msgpack: %d trailing bytes after the value", r.left())
	}
	return v, nil
}

// decodeLenient decodes b, or returns it as a rawValue.
func decodeLenient(b []byte) any {
	v, err := decodeValue(b)
	if err != nil {
		return rawValue(b)
	}
	return v
}

// mpReader is a bounded msgpack reader over one buffer.
type mpReader struct {
	b   []byte
	off int
}

var errShort = errors.New("msgpack: value cut short")

func (r *mpReader) left() int { return len(r.b) - r.off }

func (r *mpReader) take(n uint64) ([]byte, error) {
	if n > uint64(r.left()) {
		return nil, errShort
	}
	p := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return p, nil
}

// uintN reads a big-endian unsigned integer of n bytes.
func (r *mpReader) uintN(n int) (uint64, error) {
	p, err := r.take(uint64(n))
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, c := range p {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

func (r *mpReader) value(depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, fmt.Errorf("msgpack: value nested deeper than %d", maxValueDepth)
	}
	p, err := r.take(1)
	if err != nil {
		return nil, err
	}
	c := p[0]
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c&0xe0 == 0xa0:
		s, err := r.take(uint64(c & 0x1f))
		return string(s), err
	case c&0xf0 == 0x90:
		return r.array(uint64(c&0x0f), depth)
	case c&0xf0 == 0x80:
		return r.mapping(uint64(c&0x0f), depth)
	}
	switch c {
	case 0xc0:
		return nil, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xc4, 0xc5, 0xc6: // bin 8/16/32
		n, err := r.uintN(1 << (c - 0xc4))
		if err != nil {
			return nil, err
		}
		b, err := r.take(n)
		return bytes.Clone(b), err
	case 0xd9, 0xda, 0xdb: // str 8/16/32
		n, err := r.uintN(1 << (c - 0xd9))
		if err != nil {
			return nil, err
		}
		s, err := r.take(n)
		return string(s), err
	case 0xca:
		v, err := r.uintN(4)
		return float64(math.Float32frombits(uint32(v))), err
	case 0xcb:
		v, err := r.uintN(8)
		return math.Float64frombits(v), err
	case 0xcc, 0xcd, 0xce, 0xcf: // uint 8/16/32/64
		v, err := r.uintN(1 << (c - 0xcc))
		if v > math.MaxInt64 {
			return v, err
		}
		return int64(v), err
	case 0xd0, 0xd1, 0xd2, 0xd3: // int 8/16/32/64
		n := 1 << (c - 0xd0)
		v, err := r.uintN(n)
		shift := 64 - 8*n
		return int64(v<<shift) >> shift, err
	case 0xdc, 0xdd: // array 16/32
		n, err := r.uintN(2 << (c - 0xdc))
		if err != nil {
			return nil, err
		}
		return r.array(n, depth)
	case 0xde, 0xdf: // map 16/32
		n, err := r.uintN(2 << (c - 0xde))
		if err != nil {
			return nil, err
		}
		return r.mapping(n, depth)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1/2/4/8/16
		return r.ext(1 << (c - 0xd4))
	case 0xc7, 0xc8, 0xc9: // ext 8/16/32
		n, err := r.uintN(1 << (c - 0xc7))
		if err != nil {
			return nil, err
		}
		return r.ext(n)
	}
	return nil, fmt.Errorf("msgpack: byte 0x%02x at offset %d is not a value", c, r.off-1)
}

func (r *mpReader) array(n uint64, depth int) (any, error) {
	if n > uint64(r.left()) { // every element takes at least a byte
		return nil, errShort
	}
	out := make([]any, n)
	for i := range out {
		var err error
		if out[i], err = r.value(depth + 1); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *mpReader) mapping(n uint64, depth int) (any, error) {
	if 2*n > uint64(r.left()) {
		return nil, errShort
	}
	out := make(orderedMap, n)
	for i := range out {
		var err error
		if out[i].Key, err = r.value(depth + 1); err != nil {
			return nil, err
		}
		if out[i].Value, err = r.value(depth + 1); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *mpReader) ext(n uint64) (any, error) {
	t, err := r.take(1)
	if err != nil {
		return nil, err
	}
	data, err := r.take(n)
	if err != nil {
		return nil, err
	}
	return decodeExt(int8(t[0]), data), nil
}

func decodeExt(t int8, data []byte) any {
	switch t {
	case -1: // the msgpack timestamp
		switch len(data) {
		case 4:
			return time.Unix(int64(binary.BigEndian.Uint32(data)), 0).UTC()
		case 8:
			v := binary.BigEndian.Uint64(data)
			if ns := int64(v >> 34); ns < 1e9 {
				return time.Unix(int64(v&(1<<34-1)), ns).UTC()
			}
		case 12:
			if ns := int64(binary.BigEndian.Uint32(data)); ns < 1e9 {
				return time.Unix(int64(binary.BigEndian.Uint64(data[4:])), ns).UTC()
			}
		}
	case node.PathExtType:
		if p, err := node.ParsePathBytes(append(node.AppendExtHeader(nil, t, len(data)), data...)); err == nil {
			return p
		}
	}
	return extValue{Type: t, Data: bytes.Clone(data)}
}

// ---- JSON ----

// appendJSON appends v as JSON: bytes as base64 strings, map keys stringified (in wire order),
// NaN and infinities as the strings "NaN", "Infinity" and "-Infinity", timestamps in RFC 3339,
// paths in their string form, other ext values as {"ext": type, "data": base64}.
func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case float64:
		switch {
		case math.IsNaN(x):
			return appendJSONString(b, "NaN")
		case math.IsInf(x, 1):
			return appendJSONString(b, "Infinity")
		case math.IsInf(x, -1):
			return appendJSONString(b, "-Infinity")
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case string:
		return appendJSONString(b, x)
	case []byte:
		return appendJSONString(b, base64.StdEncoding.EncodeToString(x))
	case rawValue:
		return appendJSON(b, orderedMap{{"msgpack", []byte(x)}})
	case time.Time:
		return appendJSONString(b, x.Format(time.RFC3339Nano))
	case node.Path:
		return appendJSONString(b, x.String())
	case extValue:
		return appendJSON(b, orderedMap{{"ext", int64(x.Type)}, {"data", x.Data}})
	case []string:
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		return append(b, ']')
	case []any:
		b = append(b, '[')
		for i, it := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, it)
		}
		return append(b, ']')
	case map[string]any: // the CLI's own records (user show, keyring)
		return appendJSONMap(b, x)
	case map[string]string:
		return appendJSONMap(b, x)
	case map[string]int:
		return appendJSONMap(b, x)
	case orderedMap:
		b = append(b, '{')
		for i, it := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, keyString(it.Key))
			b = append(b, ':')
			b = appendJSON(b, it.Value)
		}
		return append(b, '}')
	}
	return appendJSONString(b, fmt.Sprint(v))
}

// appendJSONMap appends a Go map as a JSON object, its keys sorted.
func appendJSONMap[V any](b []byte, m map[string]V) []byte {
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSON(append(appendJSONString(b, k), ':'), m[k])
	}
	return append(b, '}')
}

// keyString stringifies a map key for JSON: strings as they are, scalars in their JSON form
// without quotes (1, true, null), bytes in base64, anything else as its compact JSON.
func keyString(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case node.Path:
		return x.String()
	}
	return string(appendJSON(nil, k))
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD. Unlike
// encoding/json it leaves <, > and & alone.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func (e *cliEnv) printJSON(v any) error {
	_, err := e.out.Write(append(appendJSON(nil, v), '\n'))
	return err
}

// ---- YAML ----

// yamlNode builds the YAML form of v: bytes as !!binary, timestamps as !!timestamp, paths as
// !path, other ext values as !extN (base64), undecodable values as !msgpack (base64).
func yamlNode(v any, flow bool) *yaml.Node {
	scalar := func(tag, val string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: val}
	}
	var style yaml.Style
	if flow {
		style = yaml.FlowStyle
	}
	switch x := v.(type) {
	case nil:
		return scalar("!!null", "null")
	case bool:
		return scalar("!!bool", strconv.FormatBool(x))
	case int:
		return scalar("!!int", strconv.Itoa(x))
	case int64:
		return scalar("!!int", strconv.FormatInt(x, 10))
	case uint64:
		return scalar("!!int", strconv.FormatUint(x, 10))
	case float64:
		return scalar("!!float", yamlFloat(x))
	case string:
		n := scalar("!!str", strings.ToValidUTF8(x, "\uFFFD"))
		if flow && strings.ContainsAny(x, "\n\r") {
			n.Style = yaml.DoubleQuotedStyle
		}
		return n
	case []byte:
		return scalar("!!binary", base64.StdEncoding.EncodeToString(x))
	case rawValue:
		return scalar("!msgpack", base64.StdEncoding.EncodeToString(x))
	case time.Time:
		return scalar("!!timestamp", x.Format(time.RFC3339Nano))
	case node.Path:
		return scalar("!path", x.String())
	case extValue:
		return scalar("!ext"+strconv.Itoa(int(x.Type)), base64.StdEncoding.EncodeToString(x.Data))
	case []string:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: style}
		for _, s := range x {
			n.Content = append(n.Content, yamlNode(s, flow))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: style}
		for _, it := range x {
			n.Content = append(n.Content, yamlNode(it, flow))
		}
		return n
	case orderedMap:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: style}
		for _, it := range x {
			n.Content = append(n.Content, yamlNode(it.Key, flow), yamlNode(it.Value, flow))
		}
		return n
	}
	return scalar("!!str", fmt.Sprint(v))
}

func yamlFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return ".nan"
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0" // stays a float when read back
	}
	return s
}

// formatYAML returns v as a YAML document (block style), ending in a newline.
func formatYAML(v any) (string, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(yamlNode(v, false)); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// formatInline returns v on one line: YAML flow style, or JSON (which is YAML too) when the
// YAML would not fit on one line.
func formatInline(v any) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	err := enc.Encode(yamlNode(v, true))
	if err == nil {
		err = enc.Close()
	}
	s := strings.TrimSuffix(buf.String(), "\n")
	if err != nil || strings.ContainsAny(s, "\n\r") {
		return string(appendJSON(nil, v))
	}
	return s
}

func (e *cliEnv) printYAML(v any) error {
	s, err := formatYAML(v)
	if err != nil {
		return err
	}
	_, err = io.WriteString(e.out, s)
	return err
}

// ---- chains and entries ----

// linkString is the ORIGIN:TICK form that --if-chain takes.
func linkString(l node.Link) string { return l.Origin + ":" + strconv.FormatUint(l.Tick, 10) }

func chainStrings(c node.Chain) []string {
	out := make([]string, len(c))
	for i, l := range c {
		out[i] = linkString(l)
	}
	return out
}

func chainJSON(c node.Chain) []any {
	out := make([]any, len(c))
	for i, l := range c {
		out[i] = orderedMap{{"origin", l.Origin}, {"tick", l.Tick}}
	}
	return out
}

// entryPrinter prints tree entries and watch events, one per line: "path: value" (the value
// in one-line YAML), "path: <deleted>", "--- uptodate"; with json one object per line:
// {path, value, tock}, {path, deleted: true, tock}, {uptodate: true}.
type entryPrinter struct {
	w     *bufio.Writer
	json  bool
	flush bool // after every line
	buf   []byte
}

func (p *entryPrinter) print(e client.Entry) error {
	b := p.buf[:0]
	ps := e.Path.String()
	if p.json {
		m := orderedMap{{"path", ps}}
		if e.Deleted {
			m = append(m, mapItem{"deleted", true})
		} else {
			m = append(m, mapItem{"value", decodeLenient(e.Value)})
		}
		m = append(m, mapItem{"tock", e.Tock})
		b = appendJSON(b, m)
	} else {
		b = append(b, ps...)
		b = append(b, ": "...)
		if e.Deleted {
			b = append(b, "<deleted>"...)
		} else {
			b = append(b, formatInline(decodeLenient(e.Value))...)
		}
	}
	p.buf = append(b, '\n')
	return p.line(p.buf)
}

func (p *entryPrinter) uptodate() error {
	if p.json {
		return p.line([]byte("{\"uptodate\":true}\n"))
	}
	return p.line([]byte("--- uptodate\n"))
}

func (p *entryPrinter) line(b []byte) error {
	if _, err := p.w.Write(b); err != nil {
		return err
	}
	if p.flush {
		return p.w.Flush()
	}
	return nil
}

// ---- status ----

// writeStatus prints a get_state reply for humans. Fields it does not know (the cluster's,
// for instance) are printed as YAML after the known ones.
func writeStatus(w io.Writer, st orderedMap) {
	known := map[string]bool{}
	field := func(k string) (any, bool) {
		known[k] = true
		return st.get(k)
	}
	for _, k := range []string{"node", "origin", "ready", "tick", "tock", "entries"} {
		if v, ok := field(k); ok {
			fmt.Fprintf(w, "%-9s %s\n", k+":", formatInline(v))
		}
	}
	if v, ok := field("digest"); ok {
		ver := ""
		if dv, ok := field("digest_version"); ok {
			ver = " (hash v" + formatInline(dv) + ")"
		}
		fmt.Fprintf(w, "%-9s %s%s\n", "digest:", digestString(v), ver)
	}
	// Per origin: the highest tick heard of, the known ticks and the missing ones.
	var origins []string
	seen := map[string]bool{}
	vectors := map[string]orderedMap{}
	for _, k := range []string{"nodes", "known", "missing"} {
		v, ok := field(k)
		if !ok {
			continue
		}
		m, ok := v.(orderedMap)
		if !ok {
			known[k] = false // show it raw below
			continue
		}
		vectors[k] = m
		for _, it := range m {
			o := keyString(it.Key)
			if !seen[o] {
				seen[o] = true
				origins = append(origins, o)
			}
		}
	}
	if len(origins) > 0 {
		fmt.Fprintln(w, "origins:")
		width := 0
		for _, o := range origins {
			width = max(width, len(o))
		}
		for _, o := range origins {
			fmt.Fprintf(w, "  %-*s", width, o)
			if m, ok := vectors["nodes"]; ok {
				fmt.Fprintf(w, "  highest %s", inlineOr(m, o, "-"))
			}
			if m, ok := vectors["known"]; ok {
				fmt.Fprintf(w, "  known %s", rangesOr(m, o))
			}
			if m, ok := vectors["missing"]; ok {
				fmt.Fprintf(w, "  missing %s", rangesOr(m, o))
			}
			fmt.Fprintln(w)
		}
	}
	if v, ok := field("stats"); ok {
		if m, isMap := v.(orderedMap); isMap {
			parts := make([]string, len(m))
			for i, it := range m {
				parts[i] = keyString(it.Key) + " " + formatInline(it.Value)
			}
			fmt.Fprintf(w, "%-9s %s\n", "stats:", strings.Join(parts, ", "))
		} else {
			known["stats"] = false
		}
	}
	var rest orderedMap
	for _, it := range st {
		if k, ok := it.Key.(string); ok && known[k] {
			continue
		}
		rest = append(rest, it)
	}
	if len(rest) > 0 {
		if s, err := formatYAML(rest); err == nil {
			io.WriteString(w, s)
		}
	}
}

func lookup(m orderedMap, key string) (any, bool) {
	for _, it := range m {
		if keyString(it.Key) == key {
			return it.Value, true
		}
	}
	return nil, false
}

func inlineOr(m orderedMap, key, def string) string {
	if v, ok := lookup(m, key); ok {
		return formatInline(v)
	}
	return def
}

func rangesOr(m orderedMap, key string) string {
	v, ok := lookup(m, key)
	if !ok {
		return "none"
	}
	return rangesString(v)
}

// rangesString shows a range set in DistKV's wire form (items x or [start, end)) as
// "1-5,7"; "none" when empty.
func rangesString(v any) string {
	items, ok := v.([]any)
	if !ok {
		return formatInline(v)
	}
	if len(items) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(items))
	for _, it := range items {
		if pair, ok := it.([]any); ok && len(pair) == 2 {
			a, ok1 := toUint(pair[0])
			b, ok2 := toUint(pair[1])
			if ok1 && ok2 && b > a {
				if b-a == 1 {
					parts = append(parts, strconv.FormatUint(a, 10))
				} else {
					parts = append(parts, strconv.FormatUint(a, 10)+"-"+strconv.FormatUint(b-1, 10))
				}
				continue
			}
		}
		parts = append(parts, formatInline(it))
	}
	return strings.Join(parts, ",")
}

func toUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case int64:
		return uint64(x), x >= 0
	case uint64:
		return x, true
	}
	return 0, false
}

// digestString shows the 128-bit digest [hi, lo] in hex.
func digestString(v any) string {
	if a, ok := v.([]any); ok && len(a) == 2 {
		hi, ok1 := toUint(a[0])
		lo, ok2 := toUint(a[1])
		if ok1 && ok2 {
			return fmt.Sprintf("%016x%016x", hi, lo)
		}
	}
	return formatInline(v)
}
