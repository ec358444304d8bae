package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a server process this tool started; its output goes to a log file in the run's
// directory, so that a failed start can be read afterwards.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process exited
	err  error         // its exit status, once done
}

func startProc(dir, name string, argv ...string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("log of %s: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to 20 s for a graceful exit, then kills the process.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// failure describes a process that exited early, with the end of its log.
func (p *proc) failure() error {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return fmt.Errorf("%s exited (%v); end of %s:\n%s", p.name, p.err, p.log, b)
}

// cpuSeconds is the process's user plus system CPU time so far, all threads.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu of %d: %w", pid, err)
	}
	return parseStatCPU(string(b))
}

// clockTicks is USER_HZ, fixed at 100 by the Linux ABI for /proc's tick counts.
const clockTicks = 100

// parseStatCPU reads utime and stime (fields 14 and 15) of a /proc/PID/stat line. The second
// field, the command name, may hold spaces and parentheses: count from the last ')'.
func parseStatCPU(line string) (float64, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, errors.New("stat: no ')'")
	}
	f := strings.Fields(line[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the name", len(f))
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("stat: %w", err)
	}
	return float64(u+s) / clockTicks, nil
}

// rssBytes is the process's resident set (VmRSS).
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("rss of %d: %w", pid, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS %q: %w", rest, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("no VmRSS")
}

// cpuOf samples the CPU time of every process.
func cpuOf(ps []*proc) ([]float64, error) {
	out := make([]float64, len(ps))
	for i, p := range ps {
		var err error
		if out[i], err = cpuSeconds(p.pid()); err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return out, nil
}

// waitFor polls check every 50 ms until it succeeds, a process exits or the timeout passes.
func waitFor(ctx context.Context, what string, timeout time.Duration, ps []*proc, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		for _, p := range ps {
			if p.exited() {
				return p.failure()
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %v: %w", what, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var httpc = &http.Client{Timeout: 5 * time.Second}

// httpGet returns the body of a 200 answer.
func httpGet(url string) (string, error) {
	r, err := httpc.Get(url)
	if err != nil {
		return "", err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return "", fmt.Errorf("%s: %w", url, err)
	}
	if r.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s: %s", url, r.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// metricSum adds up the samples of the metric name in Prometheus text whose labels contain
// label (empty: all); ok says whether there was any.
func metricSum(text, name, label string) (sum float64, ok bool) {
	for _, l := range strings.Split(text, "\n") {
		rest, found := strings.CutPrefix(l, name)
		if !found || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		if label != "" && !strings.Contains(rest, label) {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		sum += v
		ok = true
	}
	return sum, ok
}
