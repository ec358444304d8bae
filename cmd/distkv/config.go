package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"
)

// Config file (docs/operations.md, Configuration): a YAML mapping from server flag names to
// values, e.g. `data-dir: /var/lib/distkv` or `join: [a:7946, b:7946]`. A flag or environment
// variable overrides the file's setting. A setting the server does not know, or a value its
// flag refuses, stops the start with the file's name, the line and why.

// configOnly are the server flags that make no sense in the file itself.
var configOnly = map[string]bool{"config": true, "print-config": true, "help": true}

// configSource remembers the line of each setting the file gave, so that later checks
// (serverConfig) can say where a refused value came from.
type configSource struct {
	file  string
	lines map[string]int // flag name -> line
}

// loadConfigFile applies the file's settings to the flags the command line and environment
// left unset.
func loadConfigFile(c *cli.Context, path string) (*configSource, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--config: %v", err)
	}
	src := &configSource{file: path, lines: map[string]int{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			return nil, usagef("%s:%s: %s", path, m[1], m[2])
		}
		return nil, usagef("%s: %s", path, msg)
	}
	if len(doc.Content) == 0 {
		return src, nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, usagef("%s:%d: want a mapping of setting: value", path, root.Line)
	}
	known := map[string]cli.Flag{}
	for _, f := range c.Command.Flags {
		known[f.Names()[0]] = f
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name := k.Value
		f, ok := known[name]
		if !ok || configOnly[name] {
			return nil, usagef("%s:%d: unknown setting %q (the settings are the server's flag names: distkv server --help)", path, k.Line, name)
		}
		if _, dup := src.lines[name]; dup {
			return nil, usagef("%s:%d: %q set twice", path, k.Line, name)
		}
		src.lines[name] = k.Line
		if c.IsSet(name) {
			continue // the command line or the environment wins
		}
		var vals []string
		switch {
		case v.Kind == yaml.ScalarNode && v.Tag != "!!null":
			vals = []string{v.Value}
		case v.Kind == yaml.SequenceNode:
			if _, slice := f.(*cli.StringSliceFlag); !slice {
				return nil, usagef("%s:%d: %s takes one value, not a list", path, v.Line, name)
			}
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					return nil, usagef("%s:%d: %s: want a list of plain values", path, it.Line, name)
				}
				vals = append(vals, it.Value)
			}
		default:
			return nil, usagef("%s:%d: %s: want a value", path, v.Line, name)
		}
		for _, s := range vals {
			if err := checkValue(f, s); err != nil {
				return nil, usagef("%s:%d: %s: %v", path, v.Line, name, err)
			}
			if err := c.Set(name, s); err != nil {
				return nil, usagef("%s:%d: %s: %v", path, v.Line, name, err)
			}
		}
	}
	return src, nil
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// checkValue says why a flag refuses a value, in words (the flag parser says "parse error").
func checkValue(f cli.Flag, s string) error {
	switch f.(type) {
	case *cli.IntFlag:
		if _, err := strconv.Atoi(s); err != nil {
			return fmt.Errorf("want a whole number, got %q", s)
		}
	case *cli.BoolFlag:
		if _, err := strconv.ParseBool(s); err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
	case *cli.DurationFlag:
		if _, err := time.ParseDuration(s); err != nil {
			return fmt.Errorf("want a duration such as 30s or 1h, got %q", s)
		}
	}
	return nil
}

// locate prefixes an error about a flag the file set with the file and line.
func (src *configSource) locate(err error) error {
	if src == nil || err == nil {
		return err
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		return err
	}
	for name, line := range src.lines {
		if regexp.MustCompile(`--` + regexp.QuoteMeta(name) + `\b`).MatchString(ee.msg) {
			return &exitError{code: ee.code, msg: fmt.Sprintf("%s:%d: %s", src.file, line, ee.msg)}
		}
	}
	return err
}

// printConfig writes the effective settings as a config file.
func printConfig(c *cli.Context, w io.Writer) error {
	m := map[string]any{}
	var names []string
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if configOnly[name] {
			continue
		}
		names = append(names, name)
		switch f.(type) {
		case *cli.StringSliceFlag:
			m[name] = c.StringSlice(name)
		case *cli.BoolFlag:
			m[name] = c.Bool(name)
		case *cli.IntFlag:
			m[name] = c.Int(name)
		case *cli.DurationFlag:
			m[name] = c.Duration(name).String()
		default:
			m[name] = c.String(name)
		}
	}
	slices.Sort(names)
	root := &yaml.Node{Kind: yaml.MappingNode}
	for _, name := range names {
		var v yaml.Node
		if err := v.Encode(m[name]); err != nil {
			return err
		}
		if name == "gossip-key" && c.String(name) != "" {
			v = yaml.Node{Kind: yaml.ScalarNode, Value: "(set, not shown)"}
		}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, &v)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return err
	}
	return enc.Close()
}
