package server

import (
	"errors"
	"fmt"

	"github.com/distkv/distkv/node"
)

// Event log records (docs/formats.md). A record is one msgpack array:
//
//	update = [origin, tick, tock, [op...], ...]   4 or more fields (node.Update)
//	known  = [origin, rangeset]                    2 fields
//
// A known record holds ticks the node learned without their ops: a pull reply's superseded
// ticks, whose effects the node holds through newer versions, and ticks the network settled as
// lost (node.Settle), one record for a whole range. Logging them keeps a restarted node from
// looking behind the purge watermark (and resyncing), or missing them, for ticks it did know.
const knownRecordFields = 2

// errSkippedRecord marks a record replay skips (with a warning) rather than failing the start.
var errSkippedRecord = errors.New("skipping an implausible log record taken from a peer")

// appendKnownRecord appends the known record for origin's ticks rs.
func appendKnownRecord(b []byte, origin string, rs node.RangeSet) []byte {
	b = node.AppendArrayLen(b, knownRecordFields)
	b = node.AppendString(b, origin)
	return rs.AppendMsgpack(b)
}

// replayRecord applies one log record to n.
func replayRecord(n *node.Node, rec []byte) error {
	r := node.NewReader(rec)
	fields, err := r.ArrayLen()
	if err != nil {
		return err
	}
	if fields != knownRecordFields {
		u, err := node.DecodeUpdate(rec)
		if err != nil {
			return err
		}
		if err := node.Sane(u); err != nil && u.Origin != n.Origin() {
			// Taken from a peer before the plausibility checks: kept, it would break the
			// node again at every start.
			return fmt.Errorf("%w: %v", errSkippedRecord, err)
		}
		n.Apply(u)
		return nil
	}
	origin, err := r.Str()
	if err != nil {
		return err
	}
	if origin == "" {
		return fmt.Errorf("known record without origin")
	}
	rs, err := r.RangeSet()
	if err != nil {
		return err
	}
	if r.Len() != 0 {
		return fmt.Errorf("%d trailing bytes after a known record", r.Len())
	}
	n.MarkKnown(origin, rs)
	return nil
}

// logKnownLocked logs ticks the node marked known without ops; the caller holds s.mu. A
// record the log does not take is only lost knowledge: after a restart the ticks are pulled,
// or settled, again.
func (s *Server) logKnownLocked(origin string, rs node.RangeSet) {
	if s.store == nil || rs.Empty() {
		return
	}
	if _, err := s.store.Append(appendKnownRecord(nil, origin, rs)); err != nil {
		s.log.Warn("event log: known ticks not logged", "origin", origin, "err", err)
	}
}
