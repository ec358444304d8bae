package tests

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/internal/testport"
	"github.com/distkv/distkv/node"
)

// adminCluster starts n servers, each with its admin port (and a data directory, for the event
// log and snapshot metrics); node 0 also serves pprof.
func adminCluster(t *testing.T, n int) (*clCluster, []string) {
	t.Helper()
	needCluster(t)
	var admins, dirs []string
	for range n {
		dirs = append(dirs, t.TempDir()) // before clStartWith: removed after the servers stop
	}
	c := clStartWith(t, n, func(k int, nd *clNode) {
		a := testport.Addr(t, fmt.Sprintf("127.0.0.%d", k+1), false)
		admins = append(admins, a)
		nd.extra = append(nd.extra, "--admin-addr", a, "--data-dir", dirs[k])
		if k == 0 {
			nd.extra = append(nd.extra, "--admin-pprof")
		}
	})
	return c, admins
}

// httpGet returns a URL's status code and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	cl := http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// scrape returns a node's metrics as "name{labels}" -> value (histograms by their _count, _sum
// and _bucket series).
func scrape(t *testing.T, admin string) map[string]float64 {
	t.Helper()
	code, body := httpGet(t, "http://"+admin+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics of %s: %d\n%s", admin, code, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad metric line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// sumMatching adds the series whose name{labels} matches re.
func sumMatching(m map[string]float64, re string) float64 {
	r := regexp.MustCompile(re)
	s := 0.0
	for k, v := range m {
		if r.MatchString(k) {
			s += v
		}
	}
	return s
}

// waitMetric polls a node's metrics until cond holds for the sum of the series matching re.
func waitMetric(t *testing.T, admin, re, what string, cond func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		v := sumMatching(scrape(t, admin), re)
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s is %v on %s after 60s", what, re, v, admin)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// adminMetricNames are the families every clustered node with a data directory exports.
var adminMetricNames = []string{
	"distkv_ready", "distkv_entries", "distkv_tombstones", "distkv_watches",
	"distkv_origin_known_ticks", "distkv_origin_missing_ticks", "distkv_origin_head_tick",
	"distkv_updates_local_total", "distkv_updates_applied_total", "distkv_updates_duplicate_total",
	"distkv_conflicts_total", "distkv_tombstones_purged_total", "distkv_ticks_settled_total",
	"distkv_origins_forgotten_total", "distkv_antientropy_divergences_total", "distkv_antientropy_repaired_total",
	"distkv_antientropy_loaded_total", "distkv_antientropy_dropped_total", "distkv_housekeeper_rounds_total",
	"distkv_housekeeper", "distkv_members", "distkv_peer_frames_total", "distkv_peer_bytes_total",
	"distkv_eventlog_bytes", "distkv_eventlog_fsync_duration_seconds", "distkv_eventlog_fsync_errors_total",
	"distkv_snapshot_duration_seconds", "distkv_request_duration_seconds", "distkv_requests_total",
	"distkv_watch_drops_total", "distkv_gap_ticks_pulled_total", "distkv_propagation_samples_skipped_total",
	"go_goroutines", "process_resident_memory_bytes",
}

// distkv_propagation_delay_seconds has series only for origins sampled: checked on its own.

// TestAdminEndpoints checks every endpoint of the admin port on a 3-node cluster, that every
// metric family is there, and that the metrics move when what they count happens.
func TestAdminEndpoints(t *testing.T) {
	c, admins := adminCluster(t, 3)
	for k, a := range admins {
		if code, body := httpGet(t, "http://"+a+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
			t.Errorf("n%d /healthz: %d %q", k, code, body)
		}
		if code, body := httpGet(t, "http://"+a+"/readyz"); code != 200 || strings.TrimSpace(body) != "ready" {
			t.Errorf("n%d /readyz: %d %q", k, code, body)
		}
		code, _ := httpGet(t, "http://"+a+"/debug/pprof/")
		if want := map[bool]int{true: 200, false: 404}[k == 0]; code != want {
			t.Errorf("n%d /debug/pprof/: %d, want %d (pprof only with --admin-pprof)", k, code, want)
		}
		if code, body := httpGet(t, "http://"+a+"/"); code != 200 || !strings.Contains(body, "distkv") {
			t.Errorf("n%d /: %d", k, code)
		}
		waitMetric(t, a, `^distkv_members\{state="alive"\}$`, "three alive members", func(v float64) bool { return v == 3 })
	}
	before := scrape(t, admins[1])
	before0 := scrape(t, admins[0])

	// A watch at node 1, then writes and a delete at node 0.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := c.nodes[1].cl.Watch(ctx, node.StringPath("adm"), client.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	waitMetric(t, admins[1], `^distkv_watches$`, "a watch open", func(v float64) bool { return v == 1 })
	const writes = 20
	for i := range writes {
		if _, err := c.nodes[0].cl.SetValue(ctx, node.StringPath("adm", fmt.Sprint(i)), i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.nodes[0].cl.Delete(ctx, node.StringPath("adm", "0")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[0].cl.Get(ctx, node.StringPath("adm", "1")); err != nil {
		t.Fatal(err)
	}
	// Node 0 counted the requests and their latency, and fsynced its log.
	m0 := scrape(t, admins[0])
	moved := func(name string, m, b map[string]float64, re string, by float64) {
		t.Helper()
		if d := sumMatching(m, re) - sumMatching(b, re); d < by {
			t.Errorf("%s: %s moved by %v, want at least %v", name, re, d, by)
		}
	}
	moved("n0", m0, before0, `^distkv_requests_total\{action="set_value",result="ok"\}$`, writes)
	moved("n0", m0, before0, `^distkv_requests_total\{action="delete_value",result="ok"\}$`, 1)
	moved("n0", m0, before0, `^distkv_requests_total\{action="get_value",result="ok"\}$`, 1)
	moved("n0", m0, before0, `^distkv_request_duration_seconds_count\{kind="write"\}$`, writes+1)
	moved("n0", m0, before0, `^distkv_request_duration_seconds_count\{kind="read"\}$`, 1)
	moved("n0", m0, before0, `^distkv_updates_local_total$`, writes+1)
	moved("n0", m0, before0, `^distkv_eventlog_fsync_duration_seconds_count$`, 1)
	moved("n0", m0, before0, `^distkv_peer_frames_total\{direction="out"\}$`, 1)
	moved("n0", m0, before0, `^distkv_peer_bytes_total\{direction="out"\}$`, 1)
	if v := m0[`distkv_eventlog_bytes`]; v <= 0 {
		t.Errorf("n0 distkv_eventlog_bytes %v", v)
	}

	// Node 1 applied them: entries, a tombstone, ticks known, peer frames in, and the watch.
	waitMetric(t, admins[1], `^distkv_entries$`, "entries replicated", func(v float64) bool { return v == writes-1 })
	waitMetric(t, admins[1], `^distkv_tombstones$`, "the delete replicated", func(v float64) bool { return v >= 1 })
	m1 := scrape(t, admins[1])
	moved("n1", m1, before, `^distkv_updates_applied_total$`, writes+1)
	moved("n1", m1, before, `^distkv_peer_frames_total\{direction="in"\}$`, 1)
	moved("n1", m1, before, `^distkv_peer_bytes_total\{direction="in"\}$`, 1)
	moved("n1", m1, before, `^distkv_origin_known_ticks\{origin="n0~[0-9]+"\}$`, writes+1)
	if v := sumMatching(m1, `^distkv_origin_missing_ticks\{`); v != 0 {
		t.Errorf("n1 misses %v ticks", v)
	}
	// The propagation beacon of node 0's last write reaches node 1 (within beaconEvery, 2s).
	waitMetric(t, admins[1], `^distkv_propagation_delay_seconds_count\{origin="n0~[0-9]+"\}$`, "a propagation sample",
		func(v float64) bool { return v >= 1 })

	// Once every member has the delete, the housekeeper's watermark lets them purge it.
	waitMetric(t, admins[1], `^distkv_tombstones_purged_total$`, "the tombstone purged", func(v float64) bool { return v >= 1 })
	waitMetric(t, admins[1], `^distkv_tombstones$`, "no tombstone left", func(v float64) bool { return v == 0 })

	// One housekeeper; it runs rounds and reports convergence.
	house, houseAdmin := 0.0, ""
	for _, a := range admins {
		if v := scrape(t, a)["distkv_housekeeper"]; v == 1 {
			house, houseAdmin = house+1, a
		}
	}
	if house != 1 {
		t.Fatalf("%v nodes say they are the housekeeper, want 1", house)
	}
	waitMetric(t, houseAdmin, `^distkv_converged$`, "the housekeeper sees convergence", func(v float64) bool { return v == 1 })
	waitMetric(t, houseAdmin, `^distkv_housekeeper_rounds_total$`, "housekeeping rounds", func(v float64) bool { return v >= 1 })

	// A snapshot (the client action) moves the snapshot metrics.
	if err := runDistkv("snapshot", "save", "--server-side", "--addr", c.nodes[2].client); err != nil {
		t.Fatal(err)
	}
	m2 := scrape(t, admins[2])
	if m2["distkv_snapshot_duration_seconds_count"] < 1 {
		t.Errorf("n2 snapshot duration count %v after a snapshot", m2["distkv_snapshot_duration_seconds_count"])
	}
	if _, ok := m2["distkv_snapshot_age_seconds"]; !ok {
		t.Errorf("n2 has no distkv_snapshot_age_seconds after a snapshot")
	}

	// Every family is exported by every node.
	for k, a := range admins {
		m := scrape(t, a)
		for _, name := range adminMetricNames {
			if sumMatching(m, `^`+name+`(_count|_bucket|_sum)?(\{|$)`) == 0 && !hasSeries(m, name) {
				t.Errorf("n%d lacks %s", k, name)
			}
		}
	}

	noRaces(t, c)
	// A member killed shows up as failed.
	c.kill(2)
	waitMetric(t, admins[0], `^distkv_members\{state="failed"\}$`, "n2 failed", func(v float64) bool { return v == 1 })
}

// hasSeries reports whether any series of the family name is there, whatever its value.
func hasSeries(m map[string]float64, name string) bool {
	for k := range m {
		if k == name || strings.HasPrefix(k, name+"{") || strings.HasPrefix(k, name+"_count") {
			return true
		}
	}
	return false
}

// runDistkv runs the distkv binary.
func runDistkv(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), clOpDeadline)
	defer cancel()
	out, err := exec.CommandContext(ctx, distkvBin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("distkv %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// TestAdminReadyFlips checks /readyz during a start: a node whose only join address is a
// member that does not answer (stopped with SIGSTOP) serves /healthz but is not ready; once
// the member answers again it joins, catches up, and turns ready, holding what was written.
func TestAdminReadyFlips(t *testing.T) {
	c, admins := adminCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 50 {
		if _, err := c.nodes[1].cl.SetValue(ctx, node.StringPath("ready", fmt.Sprint(i)), i); err != nil {
			t.Fatal(err)
		}
	}
	c.waitConverged(clConvergeDeadline)
	// The new node joins through node 0 only; node 0 is stopped first.
	if err := c.nodes[0].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			c.nodes[0].cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	admin := testport.Addr(t, "127.0.0.3", false)
	nd := &clNode{name: "n2", client: testport.Addr(t, "127.0.0.3", false), gossip: testport.Addr(t, "127.0.0.3", true),
		peer: testport.Addr(t, "127.0.0.3", false), extra: []string{"--admin-addr", admin}}
	c.nodes = append(c.nodes, nd)
	c.spawn(2)
	// Not ready while the join hangs; alive all the same.
	deadline := time.Now().Add(30 * time.Second)
	var code int
	for {
		if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + admin + "/readyz"); err == nil {
			code = resp.StatusCode
			resp.Body.Close()
			if code == http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("n2 /readyz never answered 503 while starting (last %d)", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := httpGet(t, "http://"+admin+"/healthz"); code != 200 {
		t.Errorf("/healthz while starting: %d", code)
	}
	if v := scrape(t, admin)["distkv_ready"]; v != 0 {
		t.Errorf("distkv_ready %v while starting", v)
	}
	if code, body := httpGet(t, "http://"+admin+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready: starting") {
		t.Errorf("/readyz turned %d %q while the join address is stopped", code, body)
	}
	c.nodes[0].cmd.Process.Signal(syscall.SIGCONT)
	stopped = false
	waitMetric(t, admin, `^distkv_ready$`, "n2 ready after the catch-up", func(v float64) bool { return v == 1 })
	if code, _ := httpGet(t, "http://"+admin+"/readyz"); code != 200 {
		t.Errorf("/readyz %d once ready", code)
	}
	waitMetric(t, admin, `^distkv_entries$`, "n2 caught up", func(v float64) bool { return v == 50 })
	scrape(t, admins[0])
	noRaces(t, c)
}

// noRaces fails if a server built with the race detector (DISTKV_TEST_RACE) reported one; the
// admin port serves while the start sets things up, which is where one would show.
func noRaces(t *testing.T, c *clCluster) {
	t.Helper()
	for _, nd := range c.nodes {
		if nd.log != nil && strings.Contains(nd.log.String(), "DATA RACE") {
			t.Errorf("%s reported a data race:\n%s", nd.name, nd.log)
		}
	}
}
