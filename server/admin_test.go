package server_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// TestAdminInProcess runs the admin port of every node of an in-process cluster (a registry
// per server: no collision) and scrapes every endpoint continuously while nodes join and
// write, for the race detector.
func TestAdminInProcess(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 2, Configure: func(i int, cfg *server.Config) {
		cfg.AdminAddr = "127.0.0.1:0"
		cfg.AdminPprof = i == 0
	}})
	var stop atomic.Bool
	var wg sync.WaitGroup
	var scraped atomic.Int64 // /metrics answered with 200 on a checked node
	scrape := func(s *server.Server, check bool) {
		defer wg.Done()
		hc := http.Client{Timeout: 5 * time.Second}
		for !stop.Load() {
			a := s.AdminAddr()
			if a == nil {
				time.Sleep(time.Millisecond)
				continue
			}
			for _, path := range []string{"/readyz", "/metrics", "/", "/?path=k", "/healthz"} {
				resp, err := hc.Get("http://" + a.String() + path)
				if err != nil {
					continue // shutting down
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if check && path == "/metrics" && resp.StatusCode == 200 {
					scraped.Add(1)
					if !strings.Contains(string(body), "distkv_entries") {
						t.Errorf("/metrics without distkv_entries")
					}
				}
			}
		}
	}
	for i := range 2 {
		wg.Add(1)
		go scrape(c.Node(i), true)
	}
	i := c.AddNode()
	wg.Add(1)
	go scrape(c.Node(i), false)
	for k := range 20 {
		if _, err := c.Write(k%3, node.StringPath("k", string(rune('a'+k))), k); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitConverged(30 * time.Second)
	for deadline := time.Now().Add(30 * time.Second); scraped.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no /metrics scrape succeeded")
		}
	}
	stop.Store(true)
	wg.Wait()
	// The tree browser links up from below the root only.
	hc := http.Client{Timeout: 5 * time.Second}
	for path, up := range map[string]bool{"/": false, "/?path=k": true, "/?path=k.a": true} {
		resp, err := hc.Get("http://" + c.Node(0).AdminAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := strings.Contains(string(body), ">up</a>"); got != up {
			t.Errorf("%s: up link %v, want %v", path, got, up)
		}
		if path == "/?path=k" && !strings.Contains(string(body), `<td class="mono">19</td>`) {
			t.Errorf("%s does not show k.t's value 19:\n%s", path, body)
		}
	}
	if !c.Node(i).Ready() {
		t.Errorf("node %d not ready", i)
	}
}
