package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// jsonLog collects the JSON log lines of every node of a cluster, debug included.
type jsonLog struct {
	mu    sync.Mutex
	lines []map[string]any
	bad   []string
}

func (l *jsonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(p))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			l.bad = append(l.bad, sc.Text())
			continue
		}
		l.lines = append(l.lines, m)
	}
	return len(p), nil
}

// mark returns how many lines were logged so far.
func (l *jsonLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// since returns the lines logged after mark at info or above.
func (l *jsonLog) since(mark int) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, m := range l.lines[mark:] {
		if m["level"] != slog.LevelDebug.String() {
			out = append(out, m)
		}
	}
	return out
}

// count returns how many lines after mark node logged at info with msg (a prefix) and attrs.
func (l *jsonLog) count(mark int, node, msg string, attrs ...string) int {
	n := 0
	for _, m := range l.since(mark) {
		if m["node"] != node || !strings.HasPrefix(fmt.Sprint(m["msg"]), msg) || m["level"] != "INFO" {
			continue
		}
		ok := true
		for i := 0; i+1 < len(attrs); i += 2 {
			ok = ok && fmt.Sprint(m[attrs[i]]) == attrs[i+1]
		}
		if ok {
			n++
		}
	}
	return n
}

func fmtLines(ms []map[string]any) string {
	var b strings.Builder
	for _, m := range ms {
		j, _ := json.Marshal(m)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// waitLog waits until node logged msg (with attrs) after mark.
func (l *jsonLog) wait(t *testing.T, mark int, node, msg string, attrs ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for l.count(mark, node, msg, attrs...) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q %v; logged since:\n%s", node, msg, attrs, fmtLines(l.since(mark)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNoRepeats fails the test if, after mark, a node logged the same membership or
// housekeeper state twice in a row: each change is logged once.
func (l *jsonLog) checkNoRepeats(t *testing.T, mark int) {
	t.Helper()
	last := map[string]string{}
	for _, m := range l.since(mark) {
		msg := fmt.Sprint(m["msg"])
		var key, state string
		switch {
		case strings.HasPrefix(msg, "member "):
			key, state = fmt.Sprint(m["node"], " member ", m["member"]), msg
		case strings.HasPrefix(msg, "housekeeper: members unreachable"), strings.HasPrefix(msg, "housekeeper: heal done"):
			key, state = fmt.Sprint(m["node"], " housekeeper"), fmt.Sprint(msg, m["members"])
		default:
			continue
		}
		if last[key] == state {
			t.Errorf("%s: %q logged twice in a row:\n%s", key, state, fmtLines(l.since(mark)))
		}
		last[key] = state
	}
}

// rounds returns node i's count of housekeeping rounds.
func rounds(t *testing.T, c *servertest.Cluster, i int) int {
	t.Helper()
	n := metric(c.Node(i), "distkv_housekeeper_rounds_total")
	if n < 0 {
		t.Fatal("no distkv_housekeeper_rounds_total in /metrics")
	}
	return int(n)
}

// TestLogsStateChanges: with a JSON handler, as `distkv server --log-format json` logs, every
// line of every node (serf's and memberlist's included) names the node; readiness, joins,
// failures, a partition and its heal, a purge and a catch-up are each logged once at info by
// the node they concern; and an idle cluster logs nothing at info.
func TestLogsStateChanges(t *testing.T) {
	logs := &jsonLog{}
	c := servertest.New(t, servertest.Options{N: 3, Seed: 11, Configure: func(i int, cfg *server.Config) {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg.DataDir = t.TempDir()
	}})
	names := []string{c.Name(0), c.Name(1), c.Name(2)}
	c.WaitConverged(20 * time.Second)
	for _, n := range names {
		logs.wait(t, 0, n, "serving clients")
	}
	for i, n := range names {
		if k := logs.count(0, n, "serving clients"); k != 1 {
			t.Errorf("%s logged its readiness %d times", n, k)
		}
		for j, o := range names {
			if i != j {
				logs.wait(t, 0, n, "member joined", "member", o)
			}
		}
	}

	t.Run("idle", func(t *testing.T) {
		mark := logs.mark()
		r0 := rounds(t, c, 0) + rounds(t, c, 1) + rounds(t, c, 2)
		deadline := time.Now().Add(30 * time.Second)
		for rounds(t, c, 0)+rounds(t, c, 1)+rounds(t, c, 2) < r0+10 {
			if time.Now().After(deadline) {
				t.Fatal("the housekeeper ran no 10 rounds within 30s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got := logs.since(mark); len(got) > 0 {
			t.Errorf("an idle cluster logged at info over 10 housekeeper rounds:\n%s", fmtLines(got))
		}
	})

	t.Run("partition and heal", func(t *testing.T) {
		mark := logs.mark()
		c.Partition([]int{0, 1}, []int{2})
		for _, n := range names[:2] {
			logs.wait(t, mark, n, "member failed", "member", names[2])
		}
		logs.wait(t, mark, names[2], "member failed", "member", names[0])
		logs.wait(t, mark, names[2], "member failed", "member", names[1])
		logs.wait(t, mark, names[0], "housekeeper: members unreachable", "members", "["+names[2]+"]")
		logs.wait(t, mark, names[2], "housekeeper: members unreachable", "members", "["+names[0]+" "+names[1]+"]")
		c.MustWrite(0, node.StringPath("split", "a"), 1)
		c.MustWrite(2, node.StringPath("split", "b"), 2)
		c.Heal()
		logs.wait(t, mark, names[0], "housekeeper: heal done")
		c.WaitConverged(30 * time.Second)
		for _, n := range names[:2] {
			logs.wait(t, mark, n, "member joined", "member", names[2])
		}
		// The housekeeper's next rounds must not repeat what it logged. (Exact counts would be
		// flaky: memberlist may suspect a member of either side for a moment, which is a
		// state change of its own and logged as one.)
		r := rounds(t, c, 0)
		for rounds(t, c, 0) < r+5 {
			time.Sleep(50 * time.Millisecond)
		}
		logs.checkNoRepeats(t, mark)
	})

	t.Run("purge", func(t *testing.T) {
		mark := logs.mark()
		p := node.StringPath("gone")
		c.MustWrite(1, p, 1)
		if _, err := c.Delete(1, p); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			logs.wait(t, mark, n, "purged tombstones", "tombstones", "1")
		}
		r := rounds(t, c, 0)
		for rounds(t, c, 0) < r+5 {
			time.Sleep(50 * time.Millisecond)
		}
		for _, n := range names {
			if k := logs.count(mark, n, "purged tombstones"); k != 1 {
				t.Errorf("%s logged the purge %d times", n, k)
			}
		}
	})

	t.Run("join and catch-up", func(t *testing.T) {
		mark := logs.mark()
		i := c.AddNode()
		n := c.Name(i)
		logs.wait(t, mark, n, "caught up with the network", "donor", names[0])
		logs.wait(t, mark, n, "serving clients")
		for _, o := range names {
			logs.wait(t, mark, o, "member joined", "member", n)
		}
		c.WaitConverged(20 * time.Second)
		for _, msg := range []string{"caught up with the network", "serving clients", "joined the network"} {
			if k := logs.count(mark, n, msg); k != 1 {
				t.Errorf("%s logged %q %d times", n, msg, k)
			}
		}
	})

	if testing.Verbose() {
		t.Logf("at info:\n%s", fmtLines(logs.since(0)))
	}
	logs.checkNoRepeats(t, 0)
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if len(logs.bad) > 0 {
		t.Errorf("%d lines are not JSON, first: %s", len(logs.bad), logs.bad[0])
	}
	unnamed, serf := 0, 0
	for _, m := range logs.lines {
		if _, ok := m["node"].(string); !ok {
			unnamed++
			if unnamed < 5 {
				t.Errorf("a line names no node: %v", m)
			}
		}
		if m["component"] == "memberlist" || m["component"] == "serf" {
			serf++
		}
	}
	if serf == 0 {
		t.Error("no line from serf or memberlist was captured: the check that they name the node checked nothing")
	}
	t.Logf("%d lines, %d from serf and memberlist, %d without a node", len(logs.lines), serf, unnamed)
}
