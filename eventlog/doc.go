// Package eventlog is distkv's write-ahead log: a segmented, append-only
// log of opaque records (each one msgpack-encoded update) with a CRC per
// record, three fsync policies and group commit.
//
// # Caller's duties, in order
//
//  1. Load the snapshot, then Replay(dir, snapshotSegment, apply). An error
//     wrapping ErrCorrupt means the log lost data: do not start.
//  2. If ReplayInfo.TornTail, call TruncateTorn(dir, info): a torn tail is
//     tolerated only in the newest segment, and Open is about to make a
//     newer one. ReplayInfo.CleanClose tells whether the last run called
//     Close (an unclean stop under SyncInterval/SyncNever may have lost
//     acknowledged records).
//  3. Open(cfg). It starts a fresh segment; old ones are never appended to.
//  4. For each applied update, under the server's lock: seq, err :=
//     Append(rec). Append does no I/O (it blocks only if 64 MiB are waiting
//     for the disk), and log order is apply order. Then, outside the lock,
//     Wait(ctx, seq) before acknowledging the client or sending the update to
//     peers.
//  5. Snapshot: n := Rotate() when the snapshot starts; once the snapshot
//     is durable, RemoveBefore(n). Replay from n restores what it lacks.
//  6. Close on shutdown. It writes the clean-close trailer.
//
// # Durability
//
// One writer goroutine takes every record queued since its last round,
// writes them with one write call and, under SyncAlways, fsyncs once: the
// cost of an fsync is shared by everyone who appended meanwhile. A failed
// write or fsync fails exactly the records of that batch: their waiters get
// the error (naming the segment; errors.Is finds the OS error, e.g.
// syscall.ENOSPC), the segment is truncated back to its last good offset,
// and the next batch is tried afresh, so appends work again once the disk
// has room. Before the log moves to a new segment the old one is fsynced
// whatever the policy, so only the newest segment can have a torn tail.
//
// Under SyncAlways the writer does not wait for a batch's fsync before it
// writes the next batch and starts that one's fsync: up to two run at once,
// each on a descriptor of its own (so that neither can consume a write-back
// error the other must report). Batches still complete in order, a record
// once an fsync that began after its write succeeded. After a failed fsync
// the writer waits for the other one and then fails every batch not yet
// complete, cutting the segment back before them.
//
// # On-disk format
//
// The log is a directory of segment files named by SegmentName
// ("%016x.log", numbers from 1, ascending with time). Each segment is a
// header followed by records:
//
//	segment:  +-------------+----------+----------+-----+---------------+
//	          | file header | record 1 | record 2 | ... | close trailer |
//	          +-------------+----------+----------+-----+---------------+
//	                                           (trailer only after Close)
//
//	file header (16 bytes):
//	          +------------------+---------+----------+---------------------+
//	          | magic "DKVLOG" 6 | version | reserved | segment number      |
//	          |                  | 1 byte  | 1 byte 0 | 8 bytes, LE         |
//	          +------------------+---------+----------+---------------------+
//
//	record (9 + length bytes):
//	          +--------------+--------------+--------+---------------------+
//	          | CRC-32C      | length       | type   | payload             |
//	          | 4 bytes, LE  | 4 bytes, LE  | 1 byte | length bytes        |
//	          +--------------+--------------+--------+---------------------+
//	                         \________ covered by the CRC _________________/
//
//	type 1: data record, the caller's bytes
//	type 2: clean-close trailer, empty payload, the last record of its segment
//	type 0 and others: invalid, so zero-filled space never parses
//
// The CRC (Castagnoli, unmasked) covers length, type and payload, so a
// damaged length cannot pass as a short record. A length above
// MaxRecordLimit or past the end of the file is impossible; the reader
// checks both before allocating. The header's segment number must match the
// file name. These constants must not change; a new layout takes a new
// version byte.
//
// # Reading rules
//
// Replay reads segment by segment. A record that does not parse (short,
// impossible length, bad type or checksum) is a torn tail if no valid record
// starts anywhere after it and it is in the newest segment; zero-filled
// space counts as such a tail, and so does a newest segment whose header is
// a prefix of the expected one followed by zeros. Otherwise it is
// corruption. As in pebble, a damaged last record is indistinguishable from
// a torn write and is reported as a torn tail, not as corruption. The rule
// assumes a crash loses a suffix of the unsynced data; if the OS wrote a
// later page of it but not an earlier one, Replay reports corruption, and
// only an operator can decide to cut the log there (TruncateTorn with a
// hand-made ReplayInfo). Under SyncAlways that window is one batch.
//
// # Preallocation
//
// Under SyncAlways the newest segment keeps up to a MiB of zeros past its
// last record, so that a batch's fsync need not commit a new file size. They
// are cut off before the segment stops being the newest and before a clean
// close; after a crash they are a zero tail (ReplayInfo.ZeroTail), a torn
// tail like any other that loses nothing.
package eventlog
