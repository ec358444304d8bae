package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distkv/distkv/gossip"
)

// The purge guard's memory (docs/housekeeping.md): the largest membership seen and the names
// of the members, in DIR/members (docs/formats.md), so that a restarted node neither purges
// as a minority nor forgets members that are failed while it was away. serf itself forgets
// failed members at a restart: it learns only alive and left members from its peers.
const membersFile = "members"

// memberMemo is what DIR/members holds.
type memberMemo struct {
	Peak  int
	Names []string // sorted
}

func (m memberMemo) equal(o memberMemo) bool {
	return m.Peak == o.Peak && slices.Equal(m.Names, o.Names)
}

func (m memberMemo) encode() string {
	var b strings.Builder
	fmt.Fprintf(&b, "peak %d\n", m.Peak)
	for _, n := range m.Names {
		fmt.Fprintf(&b, "member %s\n", strconv.Quote(n))
	}
	return b.String()
}

func decodeMembers(s string) (memberMemo, error) {
	var m memberMemo
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, line := range lines {
		key, val, _ := strings.Cut(line, " ")
		switch {
		case i == 0 && key == "peak":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return m, fmt.Errorf("line 1: bad peak %q", val)
			}
			m.Peak = n
		case i > 0 && key == "member":
			name, err := strconv.Unquote(val)
			if err != nil || name == "" {
				return m, fmt.Errorf("line %d: bad member name %s", i+1, val)
			}
			m.Names = append(m.Names, name)
		default:
			return m, fmt.Errorf("line %d: unexpected %q", i+1, line)
		}
	}
	slices.Sort(m.Names)
	m.Names = slices.Compact(m.Names)
	return m, nil
}

// readMembers reads DIR/members; ok is false if there is none.
func readMembers(dir string) (m memberMemo, ok bool, err error) {
	path := filepath.Join(dir, membersFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("server: %w", err)
	}
	if m, err = decodeMembers(string(b)); err != nil {
		return m, false, fmt.Errorf("server: %s: %w (remove it to start the purge guard afresh)", path, err)
	}
	return m, true, nil
}

// loadMembers seeds the guard from DIR/members. A remembered member counts as failed until
// serf lists it, or until ForgetAfter from now if it does not: this node cannot know how long
// it had been failed.
func (c *cluster) loadMembers() error {
	if c.s.store == nil {
		return nil // RAM only: the guard starts from what this run sees
	}
	m, ok, err := readMembers(c.s.store.dir)
	if err != nil || !ok {
		return err
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.peak = max(c.peak, m.Peak)
	for _, n := range m.Names {
		c.seen[n] = now
	}
	c.saved = m
	return nil
}

// members returns the names of every member that has not left: those serf lists as alive,
// leaving or failed, and those remembered from before a restart that serf does not list, for
// ForgetAfter after they were last seen alive. The purge watermark needs all of them. It keeps
// the guard's memory up to date, on disk too.
func (c *cluster) members() []string {
	now := time.Now()
	forget := c.g.ForgetAfter()
	listed := map[string]bool{}
	var out []string
	c.mu.Lock()
	for _, m := range c.g.Members() {
		listed[m.Name] = true
		switch m.Status {
		case gossip.StatusLeft:
			delete(c.seen, m.Name)
			continue
		case gossip.StatusAlive:
			c.seen[m.Name] = now
		default:
			if _, ok := c.seen[m.Name]; !ok {
				c.seen[m.Name] = now
			}
		}
		out = append(out, m.Name)
	}
	for name, at := range c.seen {
		if listed[name] {
			continue
		}
		if now.Sub(at) >= forget {
			delete(c.seen, name)
			continue
		}
		out = append(out, name)
	}
	c.peak = max(c.peak, len(out))
	memo := memberMemo{Peak: c.peak, Names: make([]string, 0, len(c.seen))}
	for name := range c.seen {
		memo.Names = append(memo.Names, name)
	}
	slices.Sort(memo.Names)
	changed := !memo.equal(c.saved)
	c.mu.Unlock()
	if changed {
		c.saveMembers(memo)
	}
	slices.Sort(out)
	return out
}

// saveMembers writes the guard's memory, when it changed; a failure is retried next round.
func (c *cluster) saveMembers(m memberMemo) {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	if c.s.store != nil {
		if err := writeFileSync(c.s.store.dir, membersFile, m.encode()); err != nil {
			c.s.log.Warn("cannot save the purge guard's members", "err", err)
			return
		}
	}
	c.mu.Lock()
	c.saved = m
	c.mu.Unlock()
}
