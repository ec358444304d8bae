package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/testcerts"
)

// TestSdNotify runs the server as systemd's Type=notify would: with $NOTIFY_SOCKET naming a
// unixgram socket (a path, and Linux's abstract "@" form). READY=1 comes once the node is
// ready (its /readyz says so by then), STOPPING=1 on SIGTERM, and the exit is clean.
func TestSdNotify(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, "notify.sock")
			env := "NOTIFY_SOCKET=" + name
			if abstract {
				name = fmt.Sprintf("\x00distkv-test-%d-%d", os.Getpid(), time.Now().UnixNano())
				env = "NOTIFY_SOCKET=@" + name[1:]
			}
			l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			addr, admin := freePort(t), freePort(t)
			p := startProc(t, dir, testEnv(env), io.Discard, "server", "--client-addr", addr, "--name", "sd",
				"--admin-addr", admin, "--data-dir", filepath.Join(dir, "data"))
			msg := readNotify(t, l)
			if !strings.Contains(msg, "READY=1") {
				t.Fatalf("first notification %q, want READY=1", msg)
			}
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + admin + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("READY=1 sent but /readyz answers %d", resp.StatusCode)
			}
			if code := p.stop(t, syscall.SIGTERM); code != 0 {
				t.Errorf("exit %d after SIGTERM; stderr:\n%s", code, p.stderr)
			}
			if msg := readNotify(t, l); msg != "STOPPING=1" {
				t.Errorf("notification on SIGTERM %q, want STOPPING=1", msg)
			}
		})
	}
}

func readNotify(t *testing.T, l *net.UnixConn) string {
	t.Helper()
	l.SetReadDeadline(time.Now().Add(startDeadline))
	buf := make([]byte, 4096)
	n, err := l.Read(buf)
	if err != nil {
		t.Fatalf("no sd_notify message: %v", err)
	}
	return string(buf[:n])
}

// TestVersionCommit: distkv version names the module version, and the commit when the build has one.
func TestVersionCommit(t *testing.T) {
	r := runCLI(t, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "distkv ") || !strings.Contains(r.stdout, "protocol ") {
		t.Fatalf("version: %v", r)
	}
	old := commit
	defer func() { commit = old }()
	commit = "0123456789abcdef0123"
	if v := cliVersion(); !strings.Contains(v, "commit 0123456789ab") {
		t.Errorf("cliVersion %q lacks the commit set by -ldflags", v)
	}
}

// TestCompletion: each script is valid for its shell, and bash's completes a command and a
// flag through the binary's --generate-bash-completion.
func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r := runCLI(t, "", "completion", sh)
		if r.code != 0 || !strings.Contains(r.stdout, "distkv") {
			t.Fatalf("completion %s: %v", sh, r)
		}
		if _, err := exec.LookPath(sh); err != nil {
			t.Logf("no %s here: its script's syntax is not checked", sh)
			continue
		}
		check := exec.Command(sh, "-n")
		if sh == "fish" {
			check = exec.Command(sh, "--no-execute")
		}
		check.Stdin = strings.NewReader(r.stdout)
		if out, err := check.CombinedOutput(); err != nil {
			t.Errorf("%s rejects its completion script: %v\n%s", sh, err, out)
		}
	}
	if r := runCLI(t, "", "completion", "tcsh"); r.code != 2 {
		t.Errorf("completion tcsh: exit %d, want 2", r.code)
	}
	script := runCLI(t, "", "completion", "bash").stdout
	for _, tc := range []struct{ words, want string }{{"distkv ser", "server"}, {"distkv server --admin-p", "--admin-pprof"}} {
		words := strings.Fields(tc.words)
		prog := script + fmt.Sprintf("COMP_WORDS=(%s); COMP_CWORD=%d; _distkv_complete; echo \"${COMPREPLY[@]}\"\n",
			tc.words, len(words)-1)
		cmd := exec.Command("bash", "-c", prog)
		cmd.Env = testEnv("PATH=" + filepath.Dir(binPath) + ":" + os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != tc.want {
			t.Errorf("bash completes %q to %q (%v), want %q", tc.words, out, err, tc.want)
		}
	}
}

// TestAdminTLS: with --admin-tls the admin port speaks only TLS, with the client port's
// certificate and its client CA.
func TestAdminTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "admin CA")
	caFile := ca.CAFile(t, dir, "ca")
	srvCert, srvKey := ca.Files(t, dir, "server", "server", true)
	cliCert, cliKey := ca.Files(t, dir, "client", "prometheus", false)
	addr, admin := freePort(t), freePort(t)
	p := startProc(t, dir, testEnv(), io.Discard, "server", "--client-addr", addr, "--name", "t1",
		"--tls-cert", srvCert, "--tls-key", srvKey, "--tls-client-ca", caFile, "--admin-addr", admin, "--admin-tls")
	waitListening(t, p, addr)
	defer p.stop(t, syscall.SIGTERM)
	get := func(c *http.Client, url string) (int, error) {
		resp, err := c.Get(url)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	pair, err := tls.LoadX509KeyPair(cliCert, cliKey)
	if err != nil {
		t.Fatal(err)
	}
	withCert := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: ca.Pool(), Certificates: []tls.Certificate{pair}}}}
	if code, err := get(withCert, "https://"+admin+"/readyz"); err != nil || code != 200 {
		t.Errorf("HTTPS with a client certificate: %d %v", code, err)
	}
	noCert := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	if _, err := get(noCert, "https://"+admin+"/readyz"); err == nil {
		t.Errorf("HTTPS without a client certificate accepted")
	}
	if code, err := get(&http.Client{Timeout: 10 * time.Second}, "http://"+admin+"/readyz"); err == nil && code == 200 {
		t.Errorf("plain HTTP served on a TLS admin port")
	}
	if r := runCLI(t, "", "server", "--admin-tls", "--admin-addr", admin); r.code != 2 || !strings.Contains(r.stderr, "--admin-tls needs") {
		t.Errorf("--admin-tls without a certificate: %v", r)
	}
}

// TestServerLogLinesNameNode: with --log-json, every line the server process logs names the
// node: the server's, serf's and memberlist's (at debug), and the command's own about the
// shutdown.
func TestServerLogLinesNameNode(t *testing.T) {
	dir := t.TempDir()
	p := startProc(t, dir, testEnv(), io.Discard, "server", "--name", "logs", "--log-json", "--log-level", "debug",
		"--client-addr", freePort(t), "--admin-addr", "", "--gossip-addr", freePort(t), "--peer-addr", freePort(t))
	deadline := time.Now().Add(startDeadline)
	for !strings.Contains(p.stderr.String(), `"msg":"serving clients"`) {
		if time.Now().After(deadline) {
			t.Fatalf("not serving within %v:\n%s", startDeadline, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d after SIGTERM; stderr:\n%s", code, p.stderr)
	}
	msgs := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(p.stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if m["node"] != "logs" {
			t.Errorf("a line does not name the node: %s", line)
		}
		msgs[fmt.Sprint(m["component"], ":", m["msg"])] = true
	}
	serf := false
	for k := range msgs {
		serf = serf || strings.HasPrefix(k, "serf:") || strings.HasPrefix(k, "memberlist:")
	}
	if !serf || !msgs["<nil>:stopped"] {
		t.Errorf("want lines from serf or memberlist and the command's 'stopped'; got %v", msgs)
	}
}
