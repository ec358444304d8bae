package server

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/eventlog"
	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/peer"
	"github.com/distkv/distkv/snapshot"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics is one server's Prometheus instruments, in a registry of its own so that the
// servers of an in-process test cluster do not collide. Counters that the node or the cluster
// keep already (node.Stats, houseState, peer.Counters) are read at scrape time by collect;
// only what nothing else counts has an instrument here.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec   // action, result
	latency  *prometheus.HistogramVec // kind: read or write
	// byAction and byKind hold requests' and latency's series resolved once: WithLabelValues
	// hashes the labels and takes a lock on every call, a few percent of a write's CPU.
	// Read-only after newMetrics.
	byAction  map[string]actionCounters
	byKind    map[string]prometheus.Observer
	drops     prometheus.Counter
	pulls     *prometheus.CounterVec // result
	pulled    prometheus.Counter     // ticks asked for in pulls that succeeded
	fsync     prometheus.Histogram
	fsyncErrs prometheus.Counter
	batchRecs prometheus.Histogram // records per event log batch (per fsync under always)
	batchWait prometheus.Histogram // a batch's first append until its write starts
	batchIO   prometheus.Histogram // a batch's write (and fsync) until its waiters wake
	snapTook  prometheus.Histogram
	prop      *prometheus.HistogramVec // origin
	propSkip  prometheus.Counter
	peer      peer.Counters
	gossip    gossip.Counters
}

func newMetrics(s *Server) *metrics {
	lat := prometheus.ExponentialBuckets(0.0001, 2, 18) // 100µs .. 13s
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "distkv_requests_total",
			Help: "Client requests by action and result (ok, error)."}, []string{"action", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "distkv_request_duration_seconds",
			Help:    "Client request latency: kind=write until the reply (durable per the fsync policy), kind=read until the reply is queued.",
			Buckets: lat}, []string{"kind"}),
		drops: prometheus.NewCounter(prometheus.CounterOpts{Name: "distkv_watch_drops_total",
			Help: "Watches ended because their queue overflowed (a slow watcher)."}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "distkv_gap_pulls_total",
			Help: "Gap pulls from peers by result (ok, error)."}, []string{"result"}),
		pulled: prometheus.NewCounter(prometheus.CounterOpts{Name: "distkv_gap_ticks_pulled_total",
			Help: "Ticks asked for in gap pulls that succeeded."}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "distkv_eventlog_fsync_duration_seconds",
			Help: "Event log fsync latency (segments and the log directory).", Buckets: lat}),
		fsyncErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "distkv_eventlog_fsync_errors_total",
			Help: "Event log fsyncs that failed."}),
		batchRecs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "distkv_eventlog_batch_records",
			Help:    "Records per event log batch: one write, and under --fsync always one fsync (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		batchWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "distkv_eventlog_batch_gather_seconds",
			Help:    "From a batch's first record's append to the start of its write: the wait for the batch before it.",
			Buckets: lat}),
		batchIO: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "distkv_eventlog_batch_write_seconds",
			Help:    "A batch's write, and under --fsync always its fsync, until its waiters are woken.",
			Buckets: lat}),
		snapTook: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "distkv_snapshot_duration_seconds",
			Help: "Time to write a snapshot.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 18)}),
		prop: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "distkv_propagation_delay_seconds",
			Help:    "Sampled time from an update's write at its origin (origin wall clock) to its apply here (local wall clock); see docs/operations.md.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"origin"}),
		propSkip: prometheus.NewCounter(prometheus.CounterOpts{Name: "distkv_propagation_samples_skipped_total",
			Help: "Propagation samples that could not be measured (the tick's apply time was no longer remembered)."}),
	}
	m.byAction = map[string]actionCounters{}
	for _, set := range []map[string]bool{readActions, writeActions, knownActions, {"other": true}} {
		for a := range set {
			m.byAction[a] = actionCounters{ok: m.requests.WithLabelValues(a, "ok"), err: m.requests.WithLabelValues(a, "error")}
		}
	}
	m.byKind = map[string]prometheus.Observer{"read": m.latency.WithLabelValues("read"), "write": m.latency.WithLabelValues("write")}
	m.reg.MustRegister(m.requests, m.latency, m.drops, m.pulls, m.pulled, m.fsync, m.fsyncErrs,
		m.batchRecs, m.batchWait, m.batchIO, m.snapTook,
		m.prop, m.propSkip, stateCollector{s},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// actionCounters are one action's distkv_requests_total series.
type actionCounters struct{ ok, err prometheus.Counter }

// request counts one client request and, for reads and writes, its latency since start.
// action is one of the known ones (dispatched maps the rest to "other").
func (m *metrics) request(action, kind string, start time.Time, err error) {
	c, ok := m.byAction[action]
	if !ok {
		c = m.byAction["other"]
	}
	if err != nil {
		c.err.Inc()
	} else {
		c.ok.Inc()
	}
	if o := m.byKind[kind]; o != nil {
		o.Observe(time.Since(start).Seconds())
	}
}

// batch records one event log batch (eventlog.Config.Observe).
func (m *metrics) batch(b eventlog.BatchStats) {
	m.batchRecs.Observe(float64(b.Records))
	m.batchWait.Observe(b.Gather.Seconds())
	m.batchIO.Observe(b.Write.Seconds())
}

// countedPull wraps a gap pull with its counters.
func (m *metrics) countedPull(pull func(context.Context, peerInfo, string, node.RangeSet) error) func(context.Context, peerInfo, string, node.RangeSet) error {
	return func(ctx context.Context, p peerInfo, origin string, ticks node.RangeSet) error {
		err := pull(ctx, p, origin, ticks)
		if err != nil {
			m.pulls.WithLabelValues("error").Inc()
		} else {
			m.pulls.WithLabelValues("ok").Inc()
			m.pulled.Add(float64(ticks.Len()))
		}
		return err
	}
}

// timedFS times the event log's fsyncs.
type timedFS struct {
	eventlog.FS
	m *metrics
}

func (f timedFS) OpenFile(name string, flag int, perm os.FileMode) (eventlog.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return timedFile{file, f.m}, nil
}

type timedFile struct {
	eventlog.File
	m *metrics
}

func (f timedFile) Sync() error { return f.timed(f.File.Sync) }

// DataSync keeps the log's fdatasync (eventlog.DataSyncer) behind the timing.
func (f timedFile) DataSync() error {
	return f.timed(func() error { return eventlog.DataSync(f.File) })
}

func (f timedFile) timed(sync func() error) error {
	start := time.Now()
	err := sync()
	f.m.fsync.Observe(time.Since(start).Seconds())
	if err != nil {
		f.m.fsyncErrs.Inc()
	}
	return err
}

// stateCollector reads the node's and the cluster's state at scrape time.
type stateCollector struct{ s *Server }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dReady      = desc("distkv_ready", "1 when the node is caught up and serving clients (/readyz).")
	dEntries    = desc("distkv_entries", "Live entries in the tree.")
	dTombs      = desc("distkv_tombstones", "Tombstones not purged yet.")
	dWatches    = desc("distkv_watches", "Open watches.")
	dKnown      = desc("distkv_origin_known_ticks", "Ticks of an origin this node holds.", "origin")
	dMissing    = desc("distkv_origin_missing_ticks", "Ticks of an origin this node knows exist but lacks (gaps).", "origin")
	dHead       = desc("distkv_origin_head_tick", "Highest tick of an origin heard of.", "origin")
	dLocal      = desc("distkv_updates_local_total", "Updates originated here.")
	dApplied    = desc("distkv_updates_applied_total", "Remote updates applied (new ticks).")
	dDup        = desc("distkv_updates_duplicate_total", "Remote updates ignored because their tick was known.")
	dConflicts  = desc("distkv_conflicts_total", "Concurrent writes detected.")
	dPurged     = desc("distkv_tombstones_purged_total", "Tombstones purged.")
	dSettled    = desc("distkv_ticks_settled_total", "Ticks settled as lost.")
	dForgotten  = desc("distkv_origins_forgotten_total", "Origins forgotten.")
	dDiverge    = desc("distkv_antientropy_divergences_total", "Differing leaves found by this node as housekeeper.")
	dRepaired   = desc("distkv_antientropy_repaired_total", "Entries sent to repair divergences by this node as housekeeper.")
	dLoaded     = desc("distkv_antientropy_loaded_total", "Entries this node loaded from repairs.")
	dDropped    = desc("distkv_antientropy_dropped_total", "Entries this node dropped from repairs.")
	dRounds     = desc("distkv_housekeeper_rounds_total", "Housekeeping rounds run by this node.")
	dHouse      = desc("distkv_housekeeper", "1 when this node is the housekeeper.")
	dConverged  = desc("distkv_converged", "1 when the last housekeeping round found every member equal (housekeeper only).")
	dMembers    = desc("distkv_members", "Members by state, as serf sees them.", "state")
	dPeerFrames = desc("distkv_peer_frames_total", "Peer data plane frames.", "direction")
	dPeerBytes  = desc("distkv_peer_bytes_total", "Peer data plane bytes, frame headers included.", "direction")
	dGossipPkts = desc("distkv_gossip_packets_total", "Gossip (serf/memberlist) UDP packets.", "direction")
	dGossipStrm = desc("distkv_gossip_streams_total", "Gossip (serf/memberlist) TCP streams opened.", "direction")
	dGossipByte = desc("distkv_gossip_bytes_total", "Gossip (serf/memberlist) bytes, UDP packets and TCP streams, as sent (encrypted if a keyring is set).", "direction")
	dLogBytes   = desc("distkv_eventlog_bytes", "Size of the event log's segments on disk.")
	dSnapAge    = desc("distkv_snapshot_age_seconds", "Age of the newest snapshot on disk.")
)

func (stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dReady, dEntries, dTombs, dWatches, dKnown, dMissing, dHead, dLocal,
		dApplied, dDup, dConflicts, dPurged, dSettled, dForgotten, dDiverge, dRepaired, dLoaded, dDropped, dRounds,
		dHouse, dConverged, dMembers, dPeerFrames, dPeerBytes, dGossipPkts, dGossipStrm, dGossipByte, dLogBytes, dSnapAge} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	count := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge(dReady, b2f(s.Ready()))
	s.mu.Lock()
	n := s.node
	gauge(dEntries, float64(n.Len()))
	gauge(dTombs, float64(n.Tombstones()))
	gauge(dWatches, float64(len(s.watches)))
	known, missing, heads := n.Known(), n.Missing(), n.Highest()
	st := n.Stats()
	s.mu.Unlock()
	for o, rs := range known {
		gauge(dKnown, float64(rs.Len()), o)
		gauge(dMissing, float64(missing[o].Len()), o)
		gauge(dHead, float64(heads[o]), o)
	}
	count(dLocal, st.Local)
	count(dApplied, st.Applied)
	count(dDup, st.Duplicates)
	count(dConflicts, st.Conflicts)
	count(dPurged, st.Purged)
	count(dSettled, st.Settled)
	count(dForgotten, st.Forgotten)
	p := &s.met.peer
	count(dPeerFrames, p.FramesIn.Load(), "in")
	count(dPeerFrames, p.FramesOut.Load(), "out")
	count(dPeerBytes, p.BytesIn.Load(), "in")
	count(dPeerBytes, p.BytesOut.Load(), "out")
	gc := &s.met.gossip
	count(dGossipPkts, gc.PacketsIn.Load(), "in")
	count(dGossipPkts, gc.PacketsOut.Load(), "out")
	count(dGossipStrm, gc.StreamsIn.Load(), "in")
	count(dGossipStrm, gc.StreamsOut.Load(), "out")
	count(dGossipByte, gc.BytesIn.Load(), "in")
	count(dGossipByte, gc.BytesOut.Load(), "out")
	if cl := s.clusterNow(); cl != nil {
		h := cl.houseStatus()
		count(dDiverge, h.divergences)
		count(dRepaired, h.repaired)
		count(dLoaded, h.loaded)
		count(dDropped, h.dropped)
		count(dRounds, h.rounds)
		rank := cl.ranking()
		hk := len(rank) > 0 && rank[0] == s.cfg.Name
		gauge(dHouse, b2f(hk))
		if hk {
			gauge(dConverged, b2f(h.converged))
		}
		states := map[string]int{}
		for _, st := range []gossip.MemberStatus{gossip.StatusAlive, gossip.StatusLeaving, gossip.StatusLeft, gossip.StatusFailed} {
			states[st.String()] = 0
		}
		for _, m := range cl.g.Members() {
			states[m.Status.String()]++
		}
		for k, v := range states {
			gauge(dMembers, float64(v), k)
		}
	}
	if dir := s.cfg.DataDir; dir != "" {
		var size int64
		if es, err := os.ReadDir(filepath.Join(dir, logDir)); err == nil {
			for _, e := range es {
				if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
					size += fi.Size()
				}
			}
		}
		gauge(dLogBytes, float64(size))
		if seqs, err := snapshot.List(filepath.Join(dir, snapDir)); err == nil && len(seqs) > 0 {
			if fi, err := os.Stat(filepath.Join(dir, snapDir, snapshot.FileName(seqs[len(seqs)-1]))); err == nil {
				gauge(dSnapAge, time.Since(fi.ModTime()).Seconds())
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// readActions are the actions whose latency distkv_request_duration_seconds{kind="read"}
// measures: the single-reply reads, answered inline.
var readActions = map[string]bool{clientproto.ActGetValue: true, clientproto.ActEnum: true,
	clientproto.ActEnumerate: true, clientproto.ActGetState: true, clientproto.ActGetTock: true}

// writeActions count themselves through writeDone.
var writeActions = map[string]bool{clientproto.ActSetValue: true, clientproto.ActDeleteValue: true,
	clientproto.ActMulti: true, clientproto.ActDeleteTree: true}

// knownActions keeps the action label's values bounded: anything else is "other".
var knownActions = map[string]bool{clientproto.ActGetTree: true, clientproto.ActWatch: true,
	clientproto.ActSnapshot: true, clientproto.ActKeyring: true, clientproto.ActStop: true,
	clientproto.ActEnumNode: true, clientproto.ActMsgSend: true, clientproto.ActMsgMonitor: true,
	clientproto.ActSave: true, clientproto.ActKillNode: true, clientproto.ActRoot: true,
	clientproto.ActAuthInfo: true, clientproto.ActLog: true,
	// logins, ACLs and the meta area (server/auth.go, acl.go, internal.go)
	"auth": true, "diffie_hellman": true, "auth_set": true, "auth_get": true, "auth_list": true,
	"auth_token": true, "set_auth_typ": true, "test_acl": true, "get_internal": true,
	"set_internal": true, "delete_internal": true, "enum_internal": true, "get_tree_internal": true}

// dispatched counts a request dispatch ran, except writes (writeDone); dispatch defers it.
// Single-reply reads are answered inline, so their latency ends there.
func (m *metrics) dispatched(action string, start time.Time) {
	switch {
	case writeActions[action]:
	case readActions[action]:
		m.request(action, "read", start, nil)
	case knownActions[action]:
		m.request(action, "", start, nil)
	default:
		m.byAction["other"].err.Inc()
	}
}

// writeDone returns what a write calls with its outcome once it is acknowledged or refused.
func (m *metrics) writeDone(action string, start time.Time) func(error) {
	return func(err error) { m.request(action, "write", start, err) }
}
