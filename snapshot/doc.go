// Package snapshot reads and writes distkv's snapshot files: one node's whole
// state at a moment (its known ticks and every entry's current version) so a
// restart replays only the event log written after it.
//
// # Caller's duties, in order
//
// Writing (the server, outside the node's lock except while copying entries):
//
//  1. In one hold of the node's lock: n := eventlog.Rotate() and copy the
//     node's tock and its known, highest and purge vectors into a Header
//     with LogSegment = n. Every update the header does not count as known
//     is then in segment n or later, and replaying one the entries already
//     hold is a no-op under the conflict rule.
//  2. w, err := Create(dir, FileName(seq), h); defer w.Abort() (a no-op
//     after Commit).
//  3. w.Add(u) for each entry, one node.Update holding its current version
//     (a tombstone is an op with Delete).
//  4. w.Commit(). Only when it returns nil is the snapshot durable under its
//     final name; before that only "<name>.tmp" exists, which every reader
//     ignores.
//  5. Prune(dir, keep), then eventlog.RemoveBefore(LogSegment of the OLDEST
//     kept snapshot), not of the newest: Newest falls back to an older
//     snapshot when a newer one is damaged, and that fallback needs the log
//     from the older snapshot's LogSegment on.
//
// Loading (at start):
//
//  1. path, h, skipped, err := Newest(dir). Log every error in skipped (a
//     damaged newer snapshot). ErrNoSnapshot means start from an empty tree.
//  2. r, err := Open(path); restore h; apply r.Next() until io.EOF; Close.
//     Newest verified the whole file, but a reader checks everything again,
//     so an error now (the file changed since) must stop the start.
//  3. eventlog.Replay(logDir, h.LogSegment, apply).
//
// # On-disk format
//
// A snapshot is a file named by FileName ("snap-%016x.dks"). It is an 8-byte
// file header followed by framed records: the header record, one record per
// entry, and the trailer record, last in the file:
//
//	file:    +-------------+--------+---------+-----+---------+---------+
//	         | file header | header | entry 1 | ... | entry n | trailer |
//	         +-------------+--------+---------+-----+---------+---------+
//	         \__________ covered by the trailer's CRC ________/
//
//	file header (8 bytes):
//	         +-------------------+-----------------+
//	         | magic "DKVSNAP" 7 | version 1 byte  |
//	         +-------------------+-----------------+
//
//	record (4 + length bytes):
//	         +-------------------+-------------------------------------+
//	         | length            | payload: one msgpack value          |
//	         | 4 bytes, BE, > 0  | length bytes                        |
//	         +-------------------+-------------------------------------+
//
//	header  = map {"node": str, "origin": str, "created": int (unix s),
//	               "tock": uint, "known": {origin: rangeset},
//	               "highest": {origin: uint}, "purge": {origin: uint},
//	               "log_segment": uint, "entries": uint}
//	entry   = node.Update in wire form (an array)
//	trailer = map {"count": uint, "crc": uint}
//
// A record's first payload byte tells an entry (a msgpack array) from the
// trailer (a map); anything else is corruption. The header record is always
// first and is a map. Range sets use node's wire form. "entries" is the
// count the writer expected when it began (0 if unknown): a hint for
// progress displays, not checked, because the tree may change while it is
// copied. The trailer's "count" is the number of entry records, and "crc" is
// the CRC-32C (Castagnoli) of every byte of the file before the trailer's
// length field: file header, header record and entry records, lengths
// included. Nothing may follow the trailer.
//
// Maps are read key by key: a key this version does not know is skipped, so
// a later version may add keys without a new version byte; a version-1
// writer writes every key above, and a reader requires them. Changing a
// key's meaning or the framing needs a new version byte. These constants
// must not change.
//
// # Reading rules
//
// A Reader checks the magic and version, then each record's length before
// allocating: a length above ReaderOptions.MaxFrame is corruption, a length
// running past the end of the file is truncation. Next returns io.EOF only
// after the trailer's count and CRC matched and the file ended there. Every
// other way the bytes can be wrong is an error wrapping ErrCorrupt and
// naming the file and the offset of the record at fault; a file that ends
// before its trailer wraps ErrTruncated, which wraps ErrCorrupt. An entry is
// handed out before the CRC that covers it is checked, so a caller applying
// entries as they come must discard them all when an error ends the file.
package snapshot
