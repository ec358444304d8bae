// Package gossip is distkv's transport layer: an embedded serf for membership,
// failure detection, tags and small user events, and the framing of the peer
// data plane, the TCP streams that carry everything else. The replication
// protocol that uses both lives elsewhere; this package provides the pipes.
//
// # Serf
//
// New starts one node; Join merges it with a cluster. The caller's duties, in
// order:
//
//  1. Receive from Events for as long as the node runs. The queue behind it is
//     unbounded, so serf never waits for the consumer, but the memory grows.
//  2. Treat user events as hints: they are best effort, unordered, may repeat,
//     and are lost for good if a node misses them for longer than serf's event
//     ring (2048 Lamport ticks). Anything that must arrive needs its own
//     sequence numbers and repair over the data plane.
//  3. Keep events within MaxEventPayload(name), about 1.26 KB: only what fits
//     one UDP packet is gossiped; anything larger would wait for push/pull,
//     tens of seconds, so UserEvent refuses it with ErrEventTooLarge.
//  4. To stop: Leave(ctx), so that others see "left" rather than "failed",
//     then Shutdown, which closes the Events channel.
//
// Config.Profile picks the timers: ProfileLAN for production, ProfileTest for
// in-process clusters (on gossip/memnet, whose partitions also cut the data
// plane when its Host serves as the Network).
//
// # Encryption
//
// Config.Keyring turns on memberlist's gossip encryption (AES-GCM, primary key
// for sending, any installed key for receiving; plaintext refused).
// Gossip.Keyring installs, uses, removes and lists keys on every member through
// serf's key manager, changing each member's Keyring in place; gossip/secure
// uses the same Keyring for the data plane. LoadKeyring reads serf's keyring
// file format.
//
// # Data plane frames
//
// Peers talk over streams opened through a Network (TCP, or memnet.Host in
// tests). A stream is a sequence of frames:
//
//	+----------------+--------+----------------------+
//	| length (4)     | type 1 | body (length bytes)  |
//	| uint32, big-   |        |                      |
//	| endian         |        |                      |
//	+----------------+--------+----------------------+
//
// length counts the body only, not the type byte or itself; an empty body is
// valid. The type values belong to the protocol built on this package, which
// should only ever append to its list of them. This layout is part of the wire
// format and must not change.
//
// A reader bounds every frame with a maximum body size, chosen per stream (e.g.
// small while waiting for a request, larger for a full-state transfer), and
// ReadFrame checks the announced length against it before allocating: a
// length over the maximum is ErrFrameTooLarge, after which the stream is out
// of step and the connection must be dropped. Bodies are msgpack; decode them
// only into fixed structs and check collection lengths against the bytes left,
// since msgpack/v5 allocates from untrusted length headers.
package gossip
