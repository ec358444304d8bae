package server_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// TestPurgeGuardSurvivesRestart starts n0 and n1, n0 (the housekeeper) on a data directory
// whose purge guard (DIR/members) remembers an earlier network, as after a restart, and checks
// whether the watermark advances over a tombstone within a few seconds (many rounds):
//   - "peak 5": it remembered five members once; the three absent ones were forgotten (past
//     the horizon), only the peak is left. Two are no strict majority of five.
//   - "failed n2": it remembers n0..n2 with a peak of 3: two are a majority, but n2, unknown to
//     serf after the restart, counts as a failed member until the horizon (1 min here).
//   - "none": no memory: two of two purge, so the test can tell.
func TestPurgeGuardSurvivesRestart(t *testing.T) {
	for _, tc := range []struct {
		name      string
		memo      string
		forget    time.Duration
		wantPurge bool
	}{
		{"peak 5", "peak 5\nmember \"n0\"\nmember \"n1\"\n", 3 * time.Second, false},
		{"failed n2", "peak 3\nmember \"n0\"\nmember \"n1\"\nmember \"n2\"\n", time.Minute, false},
		{"none", "", 3 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirs := []string{t.TempDir(), t.TempDir()}
			if tc.memo != "" {
				if err := os.WriteFile(filepath.Join(dirs[0], "members"), []byte(tc.memo), 0o644); err != nil {
					t.Fatal(err)
				}
				// As after a crash: a node that stopped gracefully remembering members that
				// are not back would wait for them before it writes (alone.go).
				if err := os.WriteFile(filepath.Join(dirs[0], "running"), []byte("1\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c := servertest.New(t, servertest.Options{N: 2, Seed: 41, Configure: func(i int, cfg *server.Config) {
				cfg.DataDir = dirs[i]
				cfg.ForgetAfter = tc.forget
			}})
			p := node.StringPath("guard", "p")
			c.MustWrite(0, p, "x")
			if _, err := c.Delete(0, p); err != nil {
				t.Fatal(err)
			}
			c.WaitConverged(10 * time.Second)
			origin := c.Origin(0)
			purgedAny := func() bool {
				purged := false
				for _, i := range []int{0, 1} {
					c.Node(i).Node(func(n *node.Node) {
						purged = purged || n.PurgeWatermark()[origin] > 0 || n.Stats().Purged > 0
					})
				}
				return purged
			}
			// A purge is awaited as long as it takes; its absence is watched over a window
			// (a slow machine runs fewer rounds in it, and passes).
			window := 8 * time.Second
			if tc.wantPurge {
				window = 60 * time.Second
			}
			deadline := time.Now().Add(window)
			purged := purgedAny()
			for !purged && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				purged = purgedAny()
			}
			st, err := c.State(0)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("purged %v after %v housekeeping rounds", purged, st["house_rounds"])
			if purged != tc.wantPurge {
				t.Errorf("purged: %v, want %v", purged, tc.wantPurge)
			}
			// Every node keeps the memory, not only the housekeeper.
			want := "peak 2\nmember \"n0\"\nmember \"n1\"\n"
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				b, err := os.ReadFile(filepath.Join(dirs[1], "members"))
				if err == nil && string(b) == want {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("n1's DIR/members: %q, %v; want %q", b, err, want)
					break
				}
			}
		})
	}
}
