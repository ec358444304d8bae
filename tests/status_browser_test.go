package tests

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
)

// chromium returns the headless browser's path, or skips saying why (scripts/deps.sh installs
// Debian's chromium; `make test` runs it first).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: run scripts/deps.sh as root (apt-get install chromium) for the status page's browser test")
	return ""
}

// browse runs headless chromium on url with the given mode flags and returns its stdout.
func browse(t *testing.T, bin string, mode []string, url string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir=" + t.TempDir(), "--window-size=1280,1000"}, mode...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, stderr.String())
	}
	return out
}

// TestStatusPageBrowser loads the status page of a 3-node cluster in headless chromium: it
// shows every member alive with its addresses, and follows a write and an overwrite in its tree
// browser. With DISTKV_STATUS_SCREENSHOT=FILE it also saves a screenshot there (docs/img).
func TestStatusPageBrowser(t *testing.T) {
	bin := chromium(t)
	c, admins := adminCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.nodes[0].cl.SetValue(ctx, node.StringPath("app", "color"), "red"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[2].cl.SetValue(ctx, node.StringPath("app", "size"), 42); err != nil {
		t.Fatal(err)
	}
	c.waitConverged(clConvergeDeadline)
	dom := string(browse(t, bin, []string{"--dump-dom"}, "http://"+admins[1]+"/"))
	if !strings.Contains(dom, `<span id="node">n1</span>`) {
		t.Fatalf("the page is not n1's status page:\n%s", dom)
	}
	for _, nd := range c.nodes {
		row := regexp.MustCompile(`<tr class="member" data-name="` + nd.name + `"><td>` + nd.name +
			`</td><td><span class="ok">alive</span></td><td>yes</td>.*` + regexp.QuoteMeta(nd.client))
		if !row.MatchString(dom) {
			t.Errorf("the page shows no alive ready row for %s with its client address %s:\n%s", nd.name, nd.client, dom)
		}
	}
	if !strings.Contains(dom, `<span class="ok">ready</span>`) {
		t.Errorf("the page does not say ready")
	}
	// The tree browser, at app, follows a change made at another node.
	url := "http://" + admins[1] + "/?path=app"
	dom = string(browse(t, bin, []string{"--dump-dom"}, url))
	if !strings.Contains(dom, ">color</a></td><td class=\"mono\">red</td>") || !strings.Contains(dom, ">size</a></td><td class=\"mono\">42</td>") {
		t.Fatalf("the tree at app does not show color=red and size=42:\n%s", dom)
	}
	if _, err := c.nodes[0].cl.SetValue(ctx, node.StringPath("app", "color"), "blue"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged(clConvergeDeadline)
	dom = string(browse(t, bin, []string{"--dump-dom"}, url))
	if !strings.Contains(dom, ">color</a></td><td class=\"mono\">blue</td>") {
		t.Fatalf("the tree does not follow the change to blue:\n%s", dom)
	}
	// A screenshot renders (a PNG); kept when asked for.
	shot := filepath.Join(t.TempDir(), "status.png")
	browse(t, bin, []string{"--screenshot=" + shot, "--hide-scrollbars"}, "http://"+admins[1]+"/")
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("no PNG screenshot (%v)", err)
	}
	if dst := os.Getenv("DISTKV_STATUS_SCREENSHOT"); dst != "" {
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
