package gossip

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Profiles select the timers of serf and memberlist.
const (
	// ProfileLAN is for production on one site's LAN.
	ProfileLAN = "lan"
	// ProfileTest is for many nodes inside one test process: the LAN settings
	// with every timer shortened, so that failure detection and heals take
	// seconds, not minutes.
	ProfileTest = "test"
)

// Config configures one node's gossip. The zero value is not usable: Name is
// required, and BindAddr unless Transport is set.
type Config struct {
	// Name is the serf node name, unique in the cluster.
	Name string

	// BindAddr is the "host:port" memberlist binds (UDP and TCP on one port).
	// An empty host means all interfaces; port 0 picks a free port, which
	// LocalMember().Addr then reports. Ignored when Transport is set, since a
	// transport comes already bound.
	BindAddr string

	// AdvertiseAddr is the "ip:port" other nodes should use to reach this one,
	// if not the bound address (e.g. behind NAT). Optional.
	AdvertiseAddr string

	// Tags are the node's initial serf tags. At most 512 bytes encoded.
	Tags map[string]string

	// Transport replaces memberlist's UDP/TCP transport, e.g. with a
	// memnet.Transport in tests. Nil means real sockets on BindAddr.
	Transport memberlist.Transport

	// Counters, if set, receives the counts of the node's gossip traffic; the caller may
	// keep it across nodes (e.g. a server that restarts its gossip). Nil means New allocates
	// one (see Gossip.Counters).
	Counters *Counters

	// Profile is ProfileLAN (also when empty) or ProfileTest.
	Profile string

	// Logger receives serf's and memberlist's logs: their warnings and errors
	// at those levels, everything else at debug. Nil means slog.Default().
	Logger *slog.Logger

	// Keyring, if set, turns on gossip encryption (memberlist's AES-GCM with
	// the primary key; any installed key decrypts) and refuses plaintext
	// packets and streams. Keyring operations (Gossip.Keyring) change it in
	// place, so the caller may share it, e.g. with the data plane.
	Keyring *memberlist.Keyring
	// KeyringFile, if set, is where serf rewrites the keyring after every
	// keyring operation (see LoadKeyring for its format).
	KeyringFile string

	// ForgetAfter, if set, replaces the profile's time after which a failed member is
	// forgotten (serf's ReconnectTimeout and TombstoneTimeout). Until then a failed member still
	// counts as a member: distkv's housekeeper does not purge tombstones without it.
	ForgetAfter time.Duration

	// tune, if set, edits the finished serf configuration. Tests use it to
	// isolate one mechanism (e.g. turn push/pull off).
	tune func(*serf.Config)
	// eventChCap, if positive, replaces eventChBuffer, so that a test can
	// overflow serf's side of the event path with a small burst.
	eventChCap int
}

// DefaultConfig returns the production configuration: the host name as node
// name, the standard serf port on all interfaces, the LAN profile.
func DefaultConfig() Config {
	name, _ := os.Hostname()
	return Config{
		Name:     name,
		BindAddr: "0.0.0.0:7946",
		Profile:  ProfileLAN,
		Logger:   slog.Default(),
	}
}

// eventChBuffer is the capacity of the channel serf delivers events into. The
// pump drains it into an unbounded queue at once, so it only absorbs bursts
// while the pump is scheduled and events that straggle in after Shutdown, when
// nobody drains any more: serf's sends must never block (see events.go).
const eventChBuffer = 4096

// serfConfig builds the serf configuration for cfg, delivering events to ch;
// closing tells the loggers that the node is shutting down.
func (cfg *Config) serfConfig(ch chan serf.Event, closing *atomic.Bool) (*serf.Config, error) {
	if cfg.Name == "" {
		return nil, fmt.Errorf("gossip: config: Name is required")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}

	ml := memberlist.DefaultLANConfig()
	ml.Logger = newStdLogger(logger, closing)
	ml.Transport = cfg.Transport
	if cfg.Transport == nil {
		host, port, err := splitAddr(cfg.BindAddr)
		if err != nil {
			return nil, fmt.Errorf("gossip: config: BindAddr: %w", err)
		}
		if host == "" {
			host = "0.0.0.0"
		}
		ml.BindAddr, ml.BindPort = host, port
		ml.AdvertisePort = port // memberlist rewrites both when port is 0
	}
	if cfg.AdvertiseAddr != "" {
		host, port, err := splitAddr(cfg.AdvertiseAddr)
		if err != nil || net.ParseIP(host) == nil {
			return nil, fmt.Errorf("gossip: config: AdvertiseAddr %q must be ip:port", cfg.AdvertiseAddr)
		}
		ml.AdvertiseAddr, ml.AdvertisePort = host, port
	}

	if cfg.Keyring != nil {
		if len(cfg.Keyring.GetKeys()) == 0 {
			return nil, fmt.Errorf("gossip: config: empty keyring")
		}
		ml.Keyring = cfg.Keyring
		ml.GossipVerifyIncoming, ml.GossipVerifyOutgoing = true, true
	}

	sc := serf.DefaultConfig()
	sc.KeyringFile = cfg.KeyringFile
	sc.NodeName = cfg.Name
	sc.Tags = maps.Clone(cfg.Tags)
	sc.EventCh = ch
	sc.LogOutput = nil // serf uses Logger; memberlist refuses both being set
	sc.Logger = newStdLogger(logger, closing)
	sc.MemberlistConfig = ml

	switch cfg.Profile {
	case ProfileLAN, "":
		lanProfile(sc)
	case ProfileTest:
		lanProfile(sc)
		testProfile(sc)
	default:
		return nil, fmt.Errorf("gossip: config: unknown Profile %q", cfg.Profile)
	}
	if cfg.ForgetAfter > 0 {
		sc.ReconnectTimeout, sc.TombstoneTimeout = cfg.ForgetAfter, cfg.ForgetAfter
	}
	if cfg.tune != nil {
		cfg.tune(sc)
	}
	return sc, nil
}

// lanProfile sets what distkv changes from serf's and memberlist's LAN
// defaults. Everything not named keeps those defaults (gossip 200 ms to 3
// nodes, probe 1 s with 500 ms timeout, push/pull 30 s, RetransmitMult 4,
// SuspicionMult 4, UDPBufferSize 1400, BroadcastTimeout 5 s).
func lanProfile(sc *serf.Config) {
	// Gossip carries an event only if it fits one packet: at most 1395
	// encoded bytes with UDPBufferSize 1400. Larger events are never gossiped
	// and wait for push/pull (measured: about 50 s). 1300 stays under that
	// even with encryption (29 bytes) or a label added later.
	sc.UserEventSizeLimit = 1300
	// The event ring is serf's de-dup and replay window, in Lamport ticks
	// (default 512). 2048 rides out bursts and short partitions; every
	// push/pull ships the whole ring, 2048 x 1.3 KB = 2.7 MB at worst, well
	// under memberlist's 20 MB push/pull cap.
	sc.EventBuffer = 2048
	// Failed members are retried for a merge this often. The default 30 s
	// (and a random pick) made a healed partition wait tens of seconds.
	sc.ReconnectInterval = 5 * time.Second
	// Failed and left members are dropped after an hour, not 24 h: serf keeps
	// them in Members() and counts them in N for retransmits until then. A node
	// away longer resyncs through the housekeeper anyway.
	sc.ReconnectTimeout = time.Hour
	sc.TombstoneTimeout = time.Hour
}

// testProfile shortens the timers for in-process clusters, keeping the ratios
// between them sane so that a loaded 2-core CI machine does not see false
// failures.
func testProfile(sc *serf.Config) {
	ml := sc.MemberlistConfig
	// Gossip rounds: an event or state change spreads in a few rounds, so
	// about 100-200 ms instead of a second.
	ml.GossipInterval = 50 * time.Millisecond
	// Failure detection: probe each node often; a suspicion lasts
	// SuspicionMult(4) x ProbeInterval = 0.8 s at least, up to 6x that
	// without confirmations. The probe timeout keeps LAN's 1:2 ratio.
	ml.ProbeInterval = 200 * time.Millisecond
	ml.ProbeTimeout = 100 * time.Millisecond
	// Anti-entropy every few seconds: repairs what gossip missed quickly, yet
	// rarely enough that tests of gossip itself are not masked all the time.
	ml.PushPullInterval = 3 * time.Second
	// Streams (push/pull, TCP pings) in-process are fast; fail quickly.
	ml.TCPTimeout = 2 * time.Second
	// LAN ties this to the push/pull interval (30 s); keep that relation.
	ml.GossipToTheDeadTime = 3 * time.Second
	// Tests restart nodes on fresh ports (port 0): let a dead node's name be
	// taken by a new address after a second instead of being refused until
	// it is reaped.
	ml.DeadNodeReclaimTime = time.Second

	// Merge a healed partition within about a second.
	sc.ReconnectInterval = 500 * time.Millisecond
	// Keep failed and left members long enough that partitions in tests heal
	// (a reaped member is never reconnected), but reap promptly after.
	sc.ReapInterval = time.Second
	sc.ReconnectTimeout = 2 * time.Minute
	sc.TombstoneTimeout = 2 * time.Minute
	// Leave and SetTags wait for their broadcast; at 50 ms gossip it goes
	// out in a few rounds, so 2 s means something is wrong.
	sc.BroadcastTimeout = 2 * time.Second
	// Stay up after Leave long enough to answer probes from nodes that have
	// not heard yet: a few probe intervals.
	sc.LeavePropagateDelay = 500 * time.Millisecond
}

// splitAddr parses "host:port".
func splitAddr(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", portStr)
	}
	return host, int(port), nil
}
