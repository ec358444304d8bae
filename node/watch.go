package node

// A watch reports every change at or below its path within depth bounds. The node only
// produces events; the caller routes them to per-watch queues.
type watch struct {
	id       uint64
	at       *entry
	depth    int // len of the watched path
	minDepth int
	maxDepth int // < 0: unlimited
}

// Event is one change seen by a watch.
type Event struct {
	Watch uint64
	Entry Entry // Deleted (no Value) for a delete
}

// WatchSpec says what a watch sees: changes at Path+k for MinDepth <= k <= MaxDepth
// (MaxDepth < 0: any depth).
type WatchSpec struct {
	ID       uint64
	Path     Path
	MinDepth int
	MaxDepth int
}

// AddWatch registers a watch. Its ID must be unique among current watches.
func (n *Node) AddWatch(s WatchSpec) {
	n.RemoveWatch(s.ID) // an ID reused replaces the old watch instead of leaking it
	e := n.findOrCreate(s.Path)
	w := &watch{id: s.ID, at: e, depth: len(s.Path), minDepth: s.MinDepth, maxDepth: s.MaxDepth}
	x := e.ext()
	x.watches = append(x.watches, w)
	n.watches[s.ID] = w
}

// RemoveWatch drops a watch; unknown IDs are ignored.
func (n *Node) RemoveWatch(id uint64) {
	w := n.watches[id]
	if w == nil {
		return
	}
	delete(n.watches, id)
	ws := w.at.watches()
	for i, x := range ws {
		if x == w {
			w.at.x.watches = append(ws[:i:i], ws[i+1:]...)
			w.at.trim()
			break
		}
	}
	w.at.prune()
}

// notify queues an event for every watch on e or its ancestors whose bounds admit e.
func (n *Node) notify(e *entry, p Path) {
	if len(n.watches) == 0 {
		return
	}
	var v *Entry
	for x := e; x != nil; x = x.parent {
		for _, w := range x.watches() {
			d := len(p) - w.depth
			if d < w.minDepth || (w.maxDepth >= 0 && d > w.maxDepth) {
				continue
			}
			if v == nil {
				ev := e.view(p.Clone(), n.cfg.ChainLen)
				v = &ev
			}
			n.eff.Events = append(n.eff.Events, Event{Watch: w.id, Entry: *v})
		}
	}
}
