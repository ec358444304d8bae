package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/vmihailenco/msgpack/v5"
	"go.yaml.in/yaml/v3"
)

// maxStdinValue bounds what `set PATH -` reads (the server's own limit is smaller by default).
const maxStdinValue = 64 << 20

// Limits on a YAML VALUE: nesting depth (the server reads 64 levels), and how many nodes a
// value may expand to, so that aliases cannot blow up ("billion laughs").
const (
	maxYAMLDepth = 64
	maxYAMLNodes = 1 << 20
)

// valueArg turns the VALUE argument into msgpack: YAML, or a string with forceString; "-"
// reads it from stdin (with forceString: the bytes verbatim).
func valueArg(arg string, forceString bool, stdin io.Reader) ([]byte, error) {
	src := []byte(arg)
	if arg == "-" {
		b, err := io.ReadAll(io.LimitReader(stdin, maxStdinValue+1))
		if err != nil {
			return nil, failf("reading VALUE from stdin: %v", err)
		}
		if len(b) > maxStdinValue {
			return nil, usagef("VALUE on stdin is larger than %d bytes", maxStdinValue)
		}
		src = b
	}
	v, err := parseValue(src, forceString)
	if err != nil {
		return nil, usagef("bad VALUE: %v", err)
	}
	return v, nil
}

// parseValue encodes a VALUE as msgpack. As YAML: plain scalars resolve as YAML does (a bare word
// is a string, 42 an integer, 1.5 a float, true a bool, null/~/empty nil); quoted ones are
// strings; [..] and block sequences are arrays; {..} and block mappings are maps, in the order
// written; !!binary is bytes; an explicit !!timestamp is a msgpack timestamp (an untagged date
// stays a string); !path is a path (ext 3) in DistKV's string form.
func parseValue(src []byte, forceString bool) ([]byte, error) {
	if forceString {
		return node.AppendString(nil, string(src)), nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return node.AppendNil(nil), nil // an empty document is null
		}
		return nil, yamlErr(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlErr(err)
		}
		return nil, errors.New("more than one YAML document")
	}
	enc := &yamlEncoder{budget: maxYAMLNodes}
	return enc.encode(nil, &doc, 0)
}

func yamlErr(err error) error {
	return errors.New(strings.TrimPrefix(oneLine(err.Error()), "yaml: "))
}

type yamlEncoder struct {
	budget int
}

func (e *yamlEncoder) encode(b []byte, n *yaml.Node, depth int) ([]byte, error) {
	if depth > maxYAMLDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxYAMLDepth)
	}
	if e.budget--; e.budget < 0 {
		return nil, fmt.Errorf("more than %d nodes (aliases?)", maxYAMLNodes)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return node.AppendNil(b), nil
		}
		return e.encode(b, n.Content[0], depth)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fmt.Errorf("line %d: unknown alias", n.Line)
		}
		return e.encode(b, n.Alias, depth+1)
	case yaml.SequenceNode:
		if n.Tag != "" && n.ShortTag() != "!!seq" {
			return nil, fmt.Errorf("line %d: tag %s on a sequence is not supported", n.Line, n.Tag)
		}
		b = node.AppendArrayLen(b, len(n.Content))
		var err error
		for _, c := range n.Content {
			if b, err = e.encode(b, c, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case yaml.MappingNode:
		if n.Tag != "" && n.ShortTag() != "!!map" {
			return nil, fmt.Errorf("line %d: tag %s on a mapping is not supported", n.Line, n.Tag)
		}
		b = node.AppendMapLen(b, len(n.Content)/2)
		seen := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			start := len(b)
			var err error
			if b, err = e.encode(b, n.Content[i], depth+1); err != nil {
				return nil, err
			}
			k := string(b[start:])
			if seen[k] {
				return nil, fmt.Errorf("line %d: duplicate key %q", n.Content[i].Line, n.Content[i].Value)
			}
			seen[k] = true
			if b, err = e.encode(b, n.Content[i+1], depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case yaml.ScalarNode:
		return e.scalar(b, n)
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

func (e *yamlEncoder) scalar(b []byte, n *yaml.Node) ([]byte, error) {
	tag := n.ShortTag()
	bad := func(err error) ([]byte, error) {
		return nil, fmt.Errorf("line %d: %s %q: %v", n.Line, tag, n.Value, err)
	}
	switch tag {
	case "!!null":
		return node.AppendNil(b), nil
	case "!!bool":
		var v bool
		if err := n.Decode(&v); err != nil {
			return bad(err)
		}
		return node.AppendBool(b, v), nil
	case "!!int":
		var v any
		if err := n.Decode(&v); err != nil {
			return bad(err)
		}
		switch x := v.(type) {
		case int:
			return node.AppendInt(b, int64(x)), nil
		case int64:
			return node.AppendInt(b, x), nil
		case uint64:
			return node.AppendUint(b, x), nil
		case float64: // an integer too large for 64 bits
			return node.AppendFloat(b, x), nil
		}
		return bad(fmt.Errorf("not an integer"))
	case "!!float":
		var v float64
		if err := n.Decode(&v); err != nil {
			return bad(err)
		}
		return node.AppendFloat(b, v), nil
	case "!!str", "!!merge":
		return node.AppendString(b, n.Value), nil
	case "!!timestamp":
		if n.Style&yaml.TaggedStyle == 0 {
			return node.AppendString(b, n.Value), nil // a bare date is a string
		}
		var t time.Time
		if err := n.Decode(&t); err != nil {
			return bad(err)
		}
		raw, err := msgpack.Marshal(t)
		if err != nil {
			return bad(err)
		}
		return append(b, raw...), nil
	case "!!binary":
		data, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
		if err != nil {
			return bad(err)
		}
		return node.AppendBinString(b, string(data)), nil
	case "!path":
		p, err := node.ParsePath(n.Value)
		if err != nil {
			return bad(err)
		}
		return node.AppendPath(b, p), nil
	}
	return nil, fmt.Errorf("line %d: YAML tag %s is not supported (use !!str, !!int, !!float, !!bool, !!null, !!binary, !!timestamp or !path)", n.Line, n.Tag)
}
