package eventlog

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/distkv/distkv/eventlog/internal/crc"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/replay/*.txt")

// TestReplayScripts runs testdata/replay/*.txt. Each case is a command line,
// input lines, "----", and the expected output up to a blank line:
//
//	build               make segment files byte by byte (the dir is emptied first):
//	  seg N [num=M] [version=V] [magic=S] [noheader]   start segment N
//	  rec TEXT [type=T] [len=L] [crc=bad]    a record ("" quoting allowed; type/len
//	                                         overrides keep the CRC right, crc=bad breaks it)
//	  close | zeros N | raw HEX | truncate N (cut N bytes) | flip OFF (xor 0xff)
//	replay [from=N]     replay, print records and ReplayInfo or the error
//	truncate-torn       replay, then TruncateTorn
//	ls                  list segment files and sizes
//
// build prints a describe tree of what it wrote. go test -rewrite updates the
// expected output.
func TestReplayScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/replay/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runScript(t, file) })
	}
}

type scriptCase struct {
	pre   []string // comments and blank lines before the command
	cmd   string
	input []string
	want  []string
	line  int
}

func runScript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var cases []scriptCase
	var pre []string
	for i := 0; i < len(lines); {
		if l := lines[i]; strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			pre = append(pre, l)
			i++
			continue
		}
		c := scriptCase{pre: pre, cmd: lines[i], line: i + 1}
		pre = nil
		for i++; i < len(lines) && lines[i] != "----"; i++ {
			c.input = append(c.input, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: no ---- after the command", file, c.line)
		}
		for i++; i < len(lines) && lines[i] != ""; i++ {
			c.want = append(c.want, lines[i])
		}
		cases = append(cases, c)
	}

	dir := t.TempDir()
	var out []string
	for _, c := range cases {
		got := runCase(t, dir, c)
		if !*rewrite && strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", file, c.line, c.cmd, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
		out = append(append(append(append(out, c.pre...), c.cmd), c.input...), "----")
		out = append(out, got...)
	}
	if *rewrite {
		out = append(out, pre...)
		if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runCase(t *testing.T, dir string, c scriptCase) []string {
	cmd, args := parseArgs(c.cmd)
	switch cmd[0] {
	case "build":
		return build(t, dir, c.input)
	case "replay":
		from, _ := strconv.ParseUint(args["from"], 10, 64)
		recs, info, err := replayAll(t, dir, from)
		var out []string
		for _, r := range recs {
			out = append(out, fmt.Sprintf("rec %q", r))
		}
		if err != nil {
			return append(out, describeErr(dir, err))
		}
		torn := "none"
		if info.TornTail {
			torn = fmt.Sprintf("%d@%d", info.TornSegment, info.TornOffset)
		}
		return append(out, fmt.Sprintf("info segments=%d records=%d last=%d clean=%t torn=%s",
			info.Segments, info.Records, info.LastSegment, info.CleanClose, torn))
	case "truncate-torn":
		_, info, err := replayAll(t, dir, 0)
		if err == nil {
			err = TruncateTorn(dir, info)
		}
		if err != nil {
			return []string{describeErr(dir, err)}
		}
		return ls(t, dir)
	case "ls":
		return ls(t, dir)
	}
	t.Fatalf("line %d: unknown command %q", c.line, c.cmd)
	return nil
}

func describeErr(dir string, err error) string {
	var kinds []string
	if errors.Is(err, ErrCorrupt) {
		kinds = append(kinds, "corrupt")
	}
	if errors.Is(err, ErrTornTail) {
		kinds = append(kinds, "torn")
	}
	msg := strings.ReplaceAll(err.Error(), dir+string(os.PathSeparator), "")
	return fmt.Sprintf("error (%s): %s", strings.Join(kinds, ", "), msg)
}

func ls(t *testing.T, dir string) []string {
	segs, err := listSegments(OSFS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range segs {
		out = append(out, fmt.Sprintf("%s %d bytes", SegmentName(n), fileSize(t, segmentPath(dir, n))))
	}
	return out
}

// parseArgs splits a line into positional words and key=value options.
func parseArgs(line string) ([]string, map[string]string) {
	var words []string
	opts := map[string]string{}
	for _, f := range strings.Fields(line) {
		if k, v, ok := strings.Cut(f, "="); ok {
			opts[k] = v
		} else {
			words = append(words, f)
		}
	}
	return words, opts
}

// build writes segment files as the input says and describes them.
func build(t *testing.T, dir string, input []string) []string {
	old, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range old {
		os.Remove(f)
	}
	var out []string
	var buf []byte
	var num uint64
	flush := func() {
		if num != 0 {
			out = append(out, fmt.Sprintf("  %d eof", len(buf)))
			if err := os.WriteFile(segmentPath(dir, num), buf, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	atoi := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("build: bad number %q", s)
		}
		return n
	}
	for _, line := range input {
		words, opts := parseArgs(line)
		note := fmt.Sprintf("  %d %s", len(buf), strings.TrimSpace(line))
		switch words[0] {
		case "seg":
			flush()
			num, buf = uint64(atoi(words[1])), nil
			out = append(out, SegmentName(num))
			note = "  0 header " + strings.Join(append([]string{"seg=" + words[1]}, strings.Fields(line)[2:]...), " ")
			if slices.Contains(words, "noheader") {
				note = ""
				break
			}
			hdrNum := num
			if v, ok := opts["num"]; ok {
				hdrNum = uint64(atoi(v))
			}
			buf = appendFileHeader(buf, hdrNum)
			if v, ok := opts["version"]; ok {
				buf[6] = byte(atoi(v))
			}
			if v, ok := opts["magic"]; ok {
				copy(buf[:6], v)
			}
		case "rec":
			payload := []byte(words[1])
			if s, err := strconv.Unquote(words[1]); err == nil {
				payload = []byte(s)
			}
			h := recordHeader(recData, payload)
			if v, ok := opts["type"]; ok {
				h[8] = byte(atoi(v))
			}
			if v, ok := opts["len"]; ok {
				binary.LittleEndian.PutUint32(h[4:8], uint32(atoi(v)))
			}
			binary.LittleEndian.PutUint32(h[0:4], crc.New(h[4:]).Update(payload).Value())
			if opts["crc"] == "bad" {
				h[0] ^= 0xff
			}
			buf = append(append(buf, h[:]...), payload...)
			note += fmt.Sprintf(" (%d bytes)", recordHeaderSize+len(payload))
		case "close":
			buf = appendRecord(buf, recClose, nil)
		case "zeros":
			buf = append(buf, make([]byte, atoi(words[1]))...)
		case "raw":
			var b []byte
			if _, err := fmt.Sscanf(words[1], "%x", &b); err != nil {
				t.Fatalf("build: raw %q: %v", words[1], err)
			}
			buf = append(buf, b...)
		case "truncate":
			buf = buf[:len(buf)-atoi(words[1])]
		case "flip":
			buf[atoi(words[1])] ^= 0xff
			note = fmt.Sprintf("  %s flip", words[1])
		default:
			t.Fatalf("build: unknown op %q", line)
		}
		if note != "" {
			out = append(out, note)
		}
	}
	flush()
	return out
}
