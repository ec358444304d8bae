package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/internal/flock"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/snapshot"
	"github.com/urfave/cli/v2"
)

// The data directory layout, as server/durable.go and docs/formats.md define it. Only restore
// writes into a data directory, and only while it holds LOCK as the server does.
const (
	dataLockFile   = "LOCK"
	dataOriginFile = "origin"
	dataLogDir     = "log"
	dataSnapDir    = "snap"
)

// dataNodeFiles are the files of a data directory that belong to the node that ran on it
// (docs/formats.md): its origin, and its memory of the network (the members it must hear from,
// a wait it must finish, the clock floor, the crash marker). A restored node is a new one: kept,
// they would make it wait for a network it is not part of, or take the restore for a crash.
var dataNodeFiles = []string{dataOriginFile, "members", "waiting", "tock", "running"}

// progressThreshold is the file size from which restore shows progress on a terminal by itself.
const progressThreshold = 8 << 20

// progressEvery is the least time between two progress updates.
const progressEvery = 100 * time.Millisecond

func (e *cliEnv) snapshotCommand() *cli.Command {
	return &cli.Command{
		Name:      "snapshot",
		Usage:     "save, check, show and restore snapshot files",
		ArgsUsage: "COMMAND [flags] ARGS",
		Description: "A snapshot file holds one node's whole state: its known ticks and every entry's current version.\n" +
			"Exit codes: 0 ok, 1 failed or damaged file, 2 usage error, 3 connection problem.",
		Action: needCommand,
		Subcommands: []*cli.Command{
			{
				Name:      "save",
				Usage:     "save a consistent snapshot of a running node to FILE",
				ArgsUsage: "FILE",
				Description: "Reads the node's state (known ticks) first, then its entries, and writes FILE atomically\n" +
					"(FILE.tmp, fsync, rename). Prints the number of entries. With --server-side the node instead\n" +
					"writes a snapshot into its own data directory, and its path is printed; FILE is not given.",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "addr", EnvVars: []string{"DISTKV_ADDR"}, Value: server.DefaultClientAddr, Usage: "connect to the server at `HOST:PORT`"},
					&cli.BoolFlag{Name: "server-side", Usage: "make the node write a snapshot into its data directory"},
				}, append(clientTLSFlags(), loginFlags()...)...),
				Action: e.snapshotSave,
			},
			{
				Name:      "verify",
				Usage:     "check every record and the checksum of FILE and describe it",
				ArgsUsage: "FILE",
				Flags:     []cli.Flag{jsonFlag()},
				Action:    e.snapshotVerify,
			},
			{
				Name:      "dump",
				Usage:     "print the entries of FILE, one 'path: value' per line",
				ArgsUsage: "FILE",
				Description: "The header comes first, as '#' comment lines; deleted entries show as 'path: <deleted>'.\n" +
					"With --json: a {\"header\": {...}} line, then one {path, value, origin, tick, tock, deleted}\n" +
					"object per entry. Entries are printed as they are read: if the file turns out damaged, the\n" +
					"command fails (exit 1) after printing them.",
				Flags:  []cli.Flag{jsonFlag()},
				Action: e.snapshotDump,
			},
			{
				Name:      "restore",
				Usage:     "seed a new node's data directory with FILE",
				ArgsUsage: "FILE",
				Description: "Verifies FILE, then writes it as DIR/snap/" + snapshot.FileName(1) + " (with no event log to\n" +
					"replay). DIR must not hold a log, snapshots or a node's files (origin, members, waiting, tock,\n" +
					"running), unless --force, which moves them aside to DIR/old-<time>/. The node started on DIR\n" +
					"begins with FILE's state under a new origin.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "data-dir", Usage: "the new node's data `DIR` (required)"},
					&cli.BoolFlag{Name: "force", Usage: "move what DIR already holds aside instead of refusing"},
					&cli.BoolFlag{Name: "progress", Usage: "show progress on stderr even when it is not a terminal"},
					&cli.BoolFlag{Name: "authoritative", Usage: "seeding a new network: declare every tick up to each origin's highest known; " +
						"ticks the file lacks (writes during a client-side save) are gone for good, not missing"},
				},
				Action: e.snapshotRestore,
			},
		},
	}
}

// fileArg checks that the command got exactly one argument, FILE.
func fileArg(c *cli.Context) (string, error) {
	args := c.Args().Slice()
	usage := c.Command.HelpName + " [flags] " + c.Command.ArgsUsage
	if len(args) > 1 {
		for _, a := range args[1:] {
			if len(a) > 1 && a[0] == '-' {
				return "", usagef("flags go before arguments: %q (usage: %s)", a, usage)
			}
		}
	}
	if len(args) != 1 || args[0] == "" {
		return "", usagef("want FILE, got %d argument(s) (usage: %s)", len(args), usage)
	}
	return args[0], nil
}

// ---- save ----

func (e *cliEnv) snapshotSave(c *cli.Context) error {
	if c.Bool("server-side") {
		if c.NArg() > 0 {
			return usagef("--server-side takes no FILE: the node chooses the path in its data directory")
		}
		return e.withClient(c, func(ctx context.Context, cl *conn) error {
			path, err := cl.SnapshotNow(ctx)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.out, path)
			return err
		})
	}
	file, err := fileArg(c)
	if err != nil {
		return err
	}
	if strings.HasSuffix(file, ".tmp") {
		return usagef("FILE %q: the name must not end in .tmp (that is the temporary file's)", file)
	}
	if st, err := os.Stat(file); err == nil && st.IsDir() {
		return usagef("FILE %q is a directory", file)
	}
	dir, name := filepath.Dir(file), filepath.Base(file)
	if st, err := os.Stat(dir); err != nil {
		return failf("cannot write %s: %v", file, err)
	} else if !st.IsDir() {
		return failf("cannot write %s: %s is not a directory", file, dir)
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		n, late, err := saveSnapshot(ctx, cl.Client, dir, name, time.Now())
		if err != nil {
			return err
		}
		if late > 0 {
			fmt.Fprintf(e.errw, "warning: %d entries were written while saving, after the known ticks were read: a node "+
				"restored from %s counts their ticks as missing until a peer supplies them\n", late, file)
		}
		_, err = fmt.Fprintf(e.out, "saved %d entries to %s\n", n, file)
		return err
	})
}

// saveSnapshot writes a snapshot of the node cl talks to as dir/name and returns the number of
// entries, and how many of them carry a tick the header does not list as known (written during
// the save). The header is the node's State, read before its entries, so every tick the header
// claims is reflected in the entries (or in something newer): a consistent cut. Nothing exists
// under the final name unless the whole snapshot was written and committed.
func saveSnapshot(ctx context.Context, cl *client.Client, dir, name string, now time.Time) (count, late uint64, err error) {
	st, err := cl.State(ctx)
	if err != nil {
		return 0, 0, err
	}
	h := snapshot.Header{
		Node: st.Node, Origin: st.Origin, Created: now.Unix(), Tock: st.Tock,
		Known: st.Known, Highest: st.Highest, Purge: st.Purge,
		LogSegment: 0, // a saved file has no event log: nothing to replay after it
		Entries:    st.Entries,
	}
	w, err := snapshot.Create(dir, name, h)
	if err != nil {
		return 0, 0, failf("%v", err)
	}
	defer w.Abort()
	var addErr error
	_, err = cl.Dump(ctx, func(u *node.Update) error {
		if !h.Known[u.Origin].Contains(u.Tick) {
			late++
		}
		if err := w.Add(u); err != nil {
			addErr = err
			return err
		}
		return nil
	})
	if addErr != nil {
		return 0, 0, failf("%v", addErr)
	}
	if err != nil {
		return 0, 0, err
	}
	if err := w.Commit(); err != nil {
		return 0, 0, failf("%v", err)
	}
	return w.Count(), late, nil
}

// ---- verify ----

// fileSummary is what reading a whole snapshot found.
type fileSummary struct {
	h       snapshot.Header
	size    int64
	entries uint64            // entry records
	values  uint64            // ops with a value
	deleted uint64            // ops that are tombstones
	heads   map[string]uint64 // the highest tick of each origin among the entries
}

// readSnapshot reads the snapshot at path to its verified end, showing progress on prog (nil:
// none).
func readSnapshot(path string, prog *progress) (fileSummary, error) {
	r, err := snapshot.Open(path)
	if err != nil {
		return fileSummary{}, err
	}
	defer r.Close()
	sum := fileSummary{h: r.Header(), size: r.Size(), heads: map[string]uint64{}}
	prog.start(r.Size())
	for {
		u, err := r.Next()
		if errors.Is(err, io.EOF) {
			prog.finish(r.Offset())
			return sum, nil
		}
		if err != nil {
			prog.abandon()
			return sum, err
		}
		sum.entries++
		sum.heads[u.Origin] = max(sum.heads[u.Origin], u.Tick)
		for i := range u.Ops {
			if u.Ops[i].Delete {
				sum.deleted++
			} else {
				sum.values++
			}
		}
		prog.update(r.Offset())
	}
}

// damaged turns a snapshot read error into the exit error to report.
func damaged(file string, err error) error {
	switch {
	case errors.Is(err, snapshot.ErrCorrupt):
		return failf("%s is damaged: %v", file, err)
	case errors.Is(err, os.ErrNotExist):
		return failf("%s: no such file", file)
	}
	return failf("cannot read %s: %v", file, err)
}

func (e *cliEnv) snapshotVerify(c *cli.Context) error {
	file, err := fileArg(c)
	if err != nil {
		return err
	}
	sum, err := readSnapshot(file, nil)
	if err != nil {
		return damaged(file, err)
	}
	h := sum.h
	if wantJSON(c) {
		m := headerJSON(h)
		m = append(orderedMap{{"file", file}, {"ok", true}}, m...)
		m = append(m, mapItem{"count", sum.entries}, mapItem{"values", sum.values}, mapItem{"deleted", sum.deleted},
			mapItem{"size", sum.size})
		return e.printJSON(m)
	}
	w := bufio.NewWriter(e.out)
	fmt.Fprintf(w, "%s: ok\n", file)
	fmt.Fprintf(w, "%-12s %s\n", "node:", h.Node)
	fmt.Fprintf(w, "%-12s %s\n", "origin:", h.Origin)
	fmt.Fprintf(w, "%-12s %s\n", "created:", createdString(h.Created))
	fmt.Fprintf(w, "%-12s %d (%d values, %d deleted)\n", "entries:", sum.entries, sum.values, sum.deleted)
	fmt.Fprintf(w, "%-12s %d\n", "tock:", h.Tock)
	fmt.Fprintf(w, "%-12s %d\n", "log_segment:", h.LogSegment)
	fmt.Fprintf(w, "%-12s %s\n", "size:", sizeString(sum.size))
	writeOrigins(w, "", h)
	return w.Flush()
}

func createdString(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

// headerOrigins returns every origin the header names, sorted.
func headerOrigins(h snapshot.Header) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]bool{keysOf(h.Known), keysOf(h.Highest), keysOf(h.Purge)} {
		for o := range m {
			if !seen[o] {
				seen[o] = true
				out = append(out, o)
			}
		}
	}
	slices.Sort(out)
	return out
}

func keysOf[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// writeOrigins prints one line per origin: its known ticks, the highest tick heard of and the
// purge watermark, each line starting with prefix.
func writeOrigins(w io.Writer, prefix string, h snapshot.Header) {
	origins := headerOrigins(h)
	if len(origins) == 0 {
		fmt.Fprintf(w, "%sorigins:     none\n", prefix)
		return
	}
	fmt.Fprintf(w, "%sorigins:\n", prefix)
	width := 0
	for _, o := range origins {
		width = max(width, len(o))
	}
	for _, o := range origins {
		known := "none"
		if rs, ok := h.Known[o]; ok && !rs.Empty() {
			known = rs.String()
		}
		fmt.Fprintf(w, "%s  %-*s  known %s  highest %s  purge %s\n", prefix, width, o, known,
			tickOr(h.Highest, o), tickOr(h.Purge, o))
	}
}

func tickOr(m map[string]uint64, o string) string {
	if t, ok := m[o]; ok {
		return strconv.FormatUint(t, 10)
	}
	return "-"
}

// headerJSON is the header as JSON: known ticks in their "1-5,7" form, created in RFC 3339.
func headerJSON(h snapshot.Header) orderedMap {
	origins := headerOrigins(h)
	known, highest, purge := orderedMap{}, orderedMap{}, orderedMap{}
	for _, o := range origins {
		if rs, ok := h.Known[o]; ok {
			known = append(known, mapItem{o, rs.String()})
		}
		if t, ok := h.Highest[o]; ok {
			highest = append(highest, mapItem{o, t})
		}
		if t, ok := h.Purge[o]; ok {
			purge = append(purge, mapItem{o, t})
		}
	}
	return orderedMap{{"node", h.Node}, {"origin", h.Origin}, {"created", createdString(h.Created)},
		{"tock", h.Tock}, {"log_segment", h.LogSegment}, {"entries", h.Entries},
		{"known", known}, {"highest", highest}, {"purge", purge}}
}

// ---- dump ----

func (e *cliEnv) snapshotDump(c *cli.Context) error {
	file, err := fileArg(c)
	if err != nil {
		return err
	}
	js := wantJSON(c)
	r, err := snapshot.Open(file)
	if err != nil {
		return damaged(file, err)
	}
	defer r.Close()
	h := r.Header()
	w := bufio.NewWriterSize(e.out, 64<<10)
	if js {
		w.Write(appendJSON(nil, orderedMap{{"header", headerJSON(h)}}))
		w.WriteByte('\n')
	} else {
		fmt.Fprintf(w, "# snapshot %s\n", file)
		fmt.Fprintf(w, "# node: %s  origin: %s  created: %s  tock: %d  log_segment: %d  entries: %d\n",
			h.Node, h.Origin, createdString(h.Created), h.Tock, h.LogSegment, h.Entries)
		writeOrigins(w, "# ", h)
	}
	var b []byte
	for {
		u, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			w.Flush()
			return damaged(file, err)
		}
		for i := range u.Ops {
			b = appendDumpLine(b[:0], u, &u.Ops[i], js)
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
	}
	return w.Flush()
}

// appendDumpLine appends one op of an entry as a line: "path: value" (one-line YAML) or
// "path: <deleted>", or a JSON object.
func appendDumpLine(b []byte, u *node.Update, op *node.Op, js bool) []byte {
	ps := op.Path.String()
	if js {
		var val any
		if !op.Delete {
			val = decodeLenient(op.Value)
		}
		b = appendJSON(b, orderedMap{{"path", ps}, {"value", val}, {"origin", u.Origin}, {"tick", u.Tick},
			{"tock", u.Tock}, {"deleted", op.Delete}})
		return append(b, '\n')
	}
	b = append(b, ps...)
	b = append(b, ": "...)
	if op.Delete {
		b = append(b, "<deleted>"...)
	} else {
		b = append(b, formatInline(decodeLenient(op.Value))...)
	}
	return append(b, '\n')
}

// ---- restore ----

func (e *cliEnv) snapshotRestore(c *cli.Context) error {
	file, err := fileArg(c)
	if err != nil {
		return err
	}
	dir := c.String("data-dir")
	if dir == "" {
		return usagef("restore needs --data-dir DIR (usage: %s [flags] FILE)", c.Command.HelpName)
	}
	force := c.Bool("force")
	progOn := c.Bool("progress")
	if !progOn && isTerminal(e.errw) {
		if st, err := os.Stat(file); err == nil && st.Size() >= progressThreshold {
			progOn = true
		}
	}
	if _, err := os.Stat(file); err != nil {
		return damaged(file, err)
	}

	// Hold the data directory's lock, as a server does, so that none starts on it meanwhile.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return failf("data dir: %v", err)
	}
	unlock, err := lockDataDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	held, err := dataDirContents(dir)
	if err != nil {
		return failf("data dir: %v", err)
	}
	if len(held) > 0 && !force {
		return failf("%s already holds %s: refusing to restore over it (--force moves it aside to %s)",
			dir, strings.Join(held, ", "), filepath.Join(dir, "old-<time>"))
	}

	// Verify the whole file before touching the directory.
	sum, err := readSnapshot(file, newProgress(e.errw, progOn, "verifying"))
	if err != nil {
		return damaged(file, err)
	}
	// Open the copy's reader now: if FILE is inside what --force moves aside, the open file
	// still reads.
	r, err := snapshot.Open(file)
	if err != nil {
		return damaged(file, err)
	}
	defer r.Close()

	if len(held) > 0 {
		old, err := moveAside(dir, held, time.Now())
		if err != nil {
			return failf("moving the old data aside: %v", err)
		}
		fmt.Fprintf(e.errw, "moved %s to %s\n", strings.Join(held, ", "), old)
	}
	snapDir := filepath.Join(dir, dataSnapDir)
	if err := os.MkdirAll(snapDir, 0o755); err != nil {
		return failf("data dir: %v", err)
	}
	h := r.Header()
	h.LogSegment = 0 // no log: the server replays nothing after it
	h.Entries = sum.entries
	if c.Bool("authoritative") {
		// A new network has no peer to fill gaps from: what the file lacks is gone. Without
		// this, a restored node would list those ticks as missing forever.
		top := map[string]uint64{}
		for o, rs := range h.Known {
			top[o] = max(top[o], rs.Max())
		}
		for o, t := range h.Highest {
			top[o] = max(top[o], t)
		}
		for o, t := range sum.heads {
			top[o] = max(top[o], t)
		}
		known := make(map[string]node.RangeSet, len(top))
		for o, t := range top {
			known[o] = node.Upto(t)
		}
		h.Known = known
	}
	name := snapshot.FileName(1)
	w, err := snapshot.Create(snapDir, name, h)
	if err != nil {
		return failf("%v", err)
	}
	defer w.Abort()
	prog := newProgress(e.errw, progOn, "writing  ")
	prog.start(r.Size())
	for {
		u, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			prog.abandon()
			return damaged(file, err) // changed since it verified; nothing is committed
		}
		if err := w.Add(u); err != nil {
			prog.abandon()
			return failf("%v", err)
		}
		prog.update(r.Offset())
	}
	if err := w.Commit(); err != nil {
		prog.abandon()
		return failf("%v", err)
	}
	prog.finish(r.Offset())
	fmt.Fprintf(e.out, "restored %d entries from %s (node %s, origin %s, created %s) into %s\n",
		w.Count(), file, h.Node, h.Origin, createdString(h.Created), filepath.Join(snapDir, name))
	fmt.Fprintf(e.out, "start the node with: distkv server --data-dir %s (it takes a new origin)\n", dir)
	return nil
}

// lockDataDir takes DIR/LOCK the way the server does; it fails if a server runs on dir.
func lockDataDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, dataLockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, failf("data dir: %v", err)
	}
	if err := flock.TryLock(f); err != nil {
		f.Close()
		if errors.Is(err, flock.ErrLocked) {
			return nil, failf("data dir %s is in use by a running server", dir)
		}
		return nil, failf("data dir %s: lock: %v", dir, err)
	}
	return func() { f.Close() }, nil
}

// dataDirContents returns what in dir a restore would replace: the node's files
// (dataNodeFiles), and log/ and snap/ if they hold anything.
func dataDirContents(dir string) ([]string, error) {
	var held []string
	for _, name := range dataNodeFiles {
		for _, name := range []string{name, name + ".tmp"} {
			if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
				held = append(held, name)
			} else if !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
	}
	for _, name := range []string{dataLogDir, dataSnapDir} {
		ents, err := os.ReadDir(filepath.Join(dir, name))
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, err
		case len(ents) > 0:
			held = append(held, name+"/")
		}
	}
	return held, nil
}

// moveAside moves the held names of dir into a new dir/old-<time>/ and returns its path.
func moveAside(dir string, held []string, now time.Time) (string, error) {
	base := filepath.Join(dir, "old-"+now.UTC().Format("20060102T150405Z"))
	old := base
	for i := 2; ; i++ {
		err := os.Mkdir(old, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
		old = base + "-" + strconv.Itoa(i)
	}
	for _, name := range held {
		name = strings.TrimSuffix(name, "/")
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(old, name)); err != nil {
			return "", err
		}
	}
	return old, syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ---- progress ----

// isTerminal reports whether w is a character device (a terminal, in practice).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress draws a one-line progress bar, redrawn in place at most every progressEvery. A nil
// or disabled progress does nothing.
type progress struct {
	w     io.Writer
	label string
	total int64
	last  time.Time
	shown bool
}

func newProgress(w io.Writer, on bool, label string) *progress {
	if !on {
		return nil
	}
	return &progress{w: w, label: label}
}

func (p *progress) start(total int64) {
	if p == nil {
		return
	}
	p.total = total
	p.draw(0)
}

func (p *progress) update(off int64) {
	if p == nil {
		return
	}
	if now := time.Now(); now.Sub(p.last) >= progressEvery {
		p.draw(off)
	}
}

// finish draws 100% and ends the line.
func (p *progress) finish(off int64) {
	if p == nil {
		return
	}
	p.draw(off)
	fmt.Fprintln(p.w)
}

// abandon ends the line where it is, so that an error message starts on a line of its own.
func (p *progress) abandon() {
	if p != nil && p.shown {
		fmt.Fprintln(p.w)
	}
}

const progressWidth = 30

func (p *progress) draw(off int64) {
	p.last = time.Now()
	p.shown = true
	pct := 100
	if p.total > 0 {
		pct = int(min(off, p.total) * 100 / p.total)
	}
	fill := pct * progressWidth / 100
	fmt.Fprintf(p.w, "\r%s [%s%s] %3d%%  %s of %s", p.label, strings.Repeat("#", fill),
		strings.Repeat(".", progressWidth-fill), pct, sizeString(off), sizeString(p.total)+"  ")
}

// sizeString shows a byte count with a binary unit.
func sizeString(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}
