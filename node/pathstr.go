package node

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// The string form of a path is DistKV's. String elements are separated by dots; a colon
// escapes: inside an element ":." is a dot, "::" a colon and ":_" a space. A colon that is not
// one of those starts a new element of another type, with no dot before it:
//
//	:t true   :f false   :n nil   :e the empty string
//	:42 :-7 :1:.5   integers and floats (the dot of a float is escaped)
//	:xff  hex integer     :b101  binary integer
//	:vabc bytes, ASCII    :yff00 bytes, hex     :sAAE= bytes, base64
//
// A lone ":" is the root. So "a.b:42.c" is the path ("a", "b", 42, "c").

// String returns the path in DistKV's string form.
func (p Path) String() string {
	if len(p) == 0 {
		return ":"
	}
	var b strings.Builder
	for _, e := range p {
		switch e.kind {
		case KindString:
			if e.str == "" {
				b.WriteString(":e")
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(escapeElem(e.str))
		case KindNil:
			b.WriteString(":n")
		case KindBool:
			if e.BoolVal() {
				b.WriteString(":t")
			} else {
				b.WriteString(":f")
			}
		case KindInt:
			b.WriteByte(':')
			if e.huge {
				b.WriteString(e.BigVal().String())
			} else if e.big {
				b.WriteString(strconv.FormatUint(e.num, 10))
			} else {
				b.WriteString(strconv.FormatInt(e.IntVal(), 10))
			}
		case KindFloat:
			b.WriteByte(':')
			b.WriteString(escapeElem(formatFloat(e.FloatVal())))
		case KindBytes:
			if printable(e.str) {
				b.WriteString(":v")
				b.WriteString(escapeElem(e.str))
			} else {
				b.WriteString(":s")
				b.WriteString(base64.StdEncoding.EncodeToString([]byte(e.str)))
			}
		}
	}
	return b.String()
}

// String returns the element alone in path string form.
func (e Element) String() string { return Path{e}.String() }

func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0" // keep it a float when parsed back
	}
	return s
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 32 || s[i] >= 127 {
			return false
		}
	}
	return true
}

var elemEscaper = strings.NewReplacer(":", "::", ".", ":.", " ", ":_")

func escapeElem(s string) string { return elemEscaper.Replace(s) }

// ParsePath parses DistKV's string form of a path.
func ParsePath(s string) (Path, error) {
	if s == ":" {
		return Path{}, nil
	}
	if s == "" {
		return nil, fmt.Errorf("%w: the empty string is not a path (the root is \":\")", ErrBadElement)
	}
	ps := pathParser{src: s}
	if err := ps.run(); err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadElement, s, err)
	}
	return ps.out, nil
}

type pathParser struct {
	src string
	out Path
	cur strings.Builder
	// what the current element is: 0 none yet (start or after a dot), 's' plain string,
	// 'd' done (a typed element that needs a dot or colon next), or a type letter for a colon
	// element whose text is still being collected ('i' number, 'x', 'b', 'v', 'y', 's' bytes).
	state byte
	typ   byte
	dot   bool // the last thing was a dot
}

func (ps *pathParser) finish() error {
	switch ps.state {
	case 's':
		ps.out = append(ps.out, String(ps.cur.String()))
	case 'c':
		e, err := typedElement(ps.typ, ps.cur.String())
		if err != nil {
			return err
		}
		ps.out = append(ps.out, e)
	}
	ps.cur.Reset()
	ps.state = 0
	return nil
}

func (ps *pathParser) run() error {
	src := ps.src
	if src[0] == '.' {
		return fmt.Errorf("a path cannot start with a dot")
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case '.':
			if ps.state == 0 && ps.dot {
				return fmt.Errorf("empty element at %d (use :e for the empty string)", i)
			}
			if err := ps.finish(); err != nil {
				return err
			}
			ps.dot = true
			continue
		case ':':
			i++
			if i == len(src) {
				return fmt.Errorf("lone colon at the end")
			}
			c = src[i]
			switch c {
			case ':', '.', '_':
				if c == '_' {
					c = ' '
				}
				if ps.state == 'd' {
					return fmt.Errorf("escape after a typed element at %d needs a dot first", i)
				}
				if ps.state == 0 {
					ps.state = 's'
				}
				ps.cur.WriteByte(c)
				continue
			}
			if err := ps.finish(); err != nil {
				return err
			}
			ps.dot = false
			switch c {
			case 't', 'f', 'n', 'e':
				ps.out = append(ps.out, map[byte]Element{'t': Bool(true), 'f': Bool(false), 'n': Nil(), 'e': String("")}[c])
				ps.state = 'd'
			case 'x', 'b', 'v', 'y', 's', 'i':
				ps.state, ps.typ = 'c', c
			default:
				ps.state, ps.typ = 'c', 'i'
				ps.cur.WriteByte(c)
			}
			continue
		}
		if ps.state == 'd' {
			return fmt.Errorf("text after a typed element at %d needs a dot first", i)
		}
		if ps.state == 0 {
			ps.state = 's'
		}
		ps.dot = false
		ps.cur.WriteByte(c)
	}
	if ps.state == 0 && ps.dot {
		return fmt.Errorf("a path cannot end with a dot")
	}
	return ps.finish()
}

func typedElement(typ byte, s string) (Element, error) {
	switch typ {
	case 'x', 'b':
		base := 16
		if typ == 'b' {
			base = 2
		}
		return parseInt(s, base)
	case 'v':
		return BytesStr(s), nil
	case 'y':
		b, err := hex.DecodeString(s)
		if err != nil {
			return Element{}, fmt.Errorf("bad hex bytes %q", s)
		}
		return Bytes(b), nil
	case 's':
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return Element{}, fmt.Errorf("bad base64 bytes %q", s)
		}
		return Bytes(b), nil
	}
	return evalElement(s)
}

func parseInt(s string, base int) (Element, error) {
	n, ok := new(big.Int).SetString(s, base)
	if !ok {
		return Element{}, fmt.Errorf("bad integer %q", s)
	}
	return bigElement(n, s)
}

// evalElement handles DistKV's ":expr" form for the literals that make sense in a path:
// integers (Python syntax, e.g. 0x1f), floats, True/False/None and quoted strings.
func evalElement(s string) (Element, error) {
	switch s {
	case "True":
		return Bool(true), nil
	case "False":
		return Bool(false), nil
	case "None":
		return Nil(), nil
	}
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return String(s[1 : len(s)-1]), nil
	}
	if _, ok := new(big.Int).SetString(strings.ReplaceAll(s, "_", ""), 0); ok {
		// An integer literal: it must fit, never silently become a float.
		return parseInt(strings.ReplaceAll(s, "_", ""), 0)
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return Float(f)
	}
	return Element{}, fmt.Errorf("cannot evaluate %q (integers, floats, True, False, None and quoted strings only)", s)
}
