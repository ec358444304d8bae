package server

import (
	"embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/vmihailenco/msgpack/v5"
)

//go:embed status.html
var statusFS embed.FS

var statusTmpl = template.Must(template.ParseFS(statusFS, "status.html"))

// statusView is what the status page shows: a read-only view, gathered at request time.
type statusView struct {
	Name, Origin, Housekeeper string
	Ready, Cluster, IsHouse   bool
	Converged                 string // "yes", "no", or "" when this node is not the housekeeper
	Tick, Tock                uint64
	Entries, Tombstones       int
	Watches                   int
	Members                   []memberView
	Origins                   []originView
	Path, Parent              string // Parent: when Path is not the root
	Children                  []childView
	More                      bool
	PathErr                   string
	Now                       string
}

type memberView struct {
	Name, Status, Origin, Peer, Client string
	Ready                              bool
}

type originView struct {
	Origin               string
	Head, Known, Missing uint64
	Samples              uint64
	Mean, P99            string
}

type childView struct {
	Name, Path, Value string
	Deleted, HasValue bool
	raw               []byte // rendered into Value after s.mu is released
}

// treeLimit bounds the children the tree browser lists at one path.
const treeLimit = 500

func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	v := statusView{Now: time.Now().UTC().Format(time.RFC3339), Ready: s.Ready(), Name: s.cfg.Name}
	p := node.Path{}
	if ps := r.URL.Query().Get("path"); ps != "" {
		var err error
		if p, err = node.ParsePath(ps); err != nil {
			v.PathErr = err.Error()
			p = node.Path{}
		}
	}
	if len(p) > 0 {
		v.Path, v.Parent = p.String(), p[:len(p)-1].String()
	}
	s.mu.Lock()
	n := s.node
	v.Origin, v.Tick, v.Tock = n.Origin(), n.Tick(), n.Tock()
	v.Entries, v.Tombstones, v.Watches = n.Len(), n.Tombstones(), len(s.watches)
	known, missing, heads := n.Known(), n.Missing(), n.Highest()
	n.Walk(p, node.WalkOptions{MinDepth: 1, MaxDepth: 1, Empty: true}, func(e node.Entry) bool {
		if len(v.Children) >= treeLimit {
			v.More = true
			return false
		}
		c := childView{Name: e.Path[len(e.Path)-1].String(), Path: e.Path.String(), Deleted: e.Deleted}
		c.HasValue, c.raw = e.Value != nil, e.Value // values are never modified in place
		v.Children = append(v.Children, c)
		return true
	})
	s.mu.Unlock()
	// Decoding and printing values (up to treeLimit of them, of up to MaxValue each) holds
	// up no writer.
	for i := range v.Children {
		if c := &v.Children[i]; c.HasValue {
			c.Value = showValue(c.raw)
		}
	}
	prop := s.propagationSummary()
	for o, rs := range known {
		ov := originView{Origin: o, Head: heads[o], Known: rs.Len(), Missing: missing[o].Len()}
		if ps, ok := prop[o]; ok {
			ov.Samples, ov.Mean, ov.P99 = ps.count, ps.mean, ps.p99
		}
		v.Origins = append(v.Origins, ov)
	}
	slices.SortFunc(v.Origins, func(a, b originView) int { return strings.Compare(a.Origin, b.Origin) })
	if c := s.clusterNow(); c != nil {
		v.Cluster = true
		for _, m := range c.g.Members() {
			v.Members = append(v.Members, memberView{Name: m.Name, Status: m.Status.String(), Ready: m.Tags[tagReady] == "1",
				Origin: m.Tags[tagOrigin], Peer: m.Tags[tagPeer], Client: m.Tags[tagClient]})
		}
		if rank := c.ranking(); len(rank) > 0 {
			v.Housekeeper = rank[0]
		}
		if v.Housekeeper == s.cfg.Name {
			v.IsHouse = true
			v.Converged = "no"
			if c.houseStatus().converged {
				v.Converged = "yes"
			}
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := statusTmpl.Execute(w, v); err != nil {
		s.log.Debug("status page", "err", err)
	}
}

// showValue renders a msgpack value for the page, shortened.
func showValue(raw []byte) string {
	var x any
	out := ""
	if err := msgpack.Unmarshal(raw, &x); err != nil {
		out = fmt.Sprintf("(%d bytes, undecodable)", len(raw))
	} else if b, ok := x.([]byte); ok {
		out = fmt.Sprintf("%q", b)
	} else {
		out = fmt.Sprintf("%v", x)
	}
	if len(out) > 200 {
		out = strings.ToValidUTF8(out[:200], "") + "…" // not half a character
	}
	return out
}

type propStat struct {
	count     uint64
	mean, p99 string
}

// propagationSummary reads the propagation histograms: samples, mean and the p99 bucket bound.
// It collects that one instrument, not the registry: a Gather would also run stateCollector
// (the node's state under s.mu, the data directory read) for nothing.
func (s *Server) propagationSummary() map[string]propStat {
	out := map[string]propStat{}
	ch := make(chan prometheus.Metric)
	go func() {
		s.met.prop.Collect(ch)
		close(ch)
	}()
	for pm := range ch {
		var m dto.Metric
		if err := pm.Write(&m); err != nil {
			continue
		}
		origin := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "origin" {
				origin = l.GetValue()
			}
		}
		h := m.GetHistogram()
		n := h.GetSampleCount()
		if n == 0 {
			continue
		}
		ps := propStat{count: n, mean: fmtSeconds(h.GetSampleSum() / float64(n)), p99: "> largest bucket"}
		want := uint64(math.Ceil(0.99 * float64(n)))
		for _, b := range h.GetBucket() {
			if b.GetCumulativeCount() >= want {
				ps.p99 = "≤ " + fmtSeconds(b.GetUpperBound())
				break
			}
		}
		out[origin] = ps
	}
	return out
}

func fmtSeconds(f float64) string {
	return time.Duration(f * float64(time.Second)).Round(time.Microsecond * 100).String()
}
