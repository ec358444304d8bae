package server

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/distkv/distkv/eventlog"
	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/gossip/secure"
	"github.com/hashicorp/memberlist"
)

// Config configures a Server. The zero value plus DefaultConfig's fields is a working single
// node that keeps its data in RAM only.
type Config struct {
	// Name is this host's name in the network. Default: the host name.
	Name string
	// ClientAddr is where clients connect. Default 127.0.0.1:27586 (DistKV's port).
	ClientAddr string
	// DataDir holds the event log and snapshots; empty keeps everything in RAM only.
	DataDir string
	// Fsync is the event log's policy: "always" (a write is acknowledged once on disk,
	// with group commit), "interval" or "never".
	Fsync string
	// MaxRequest caps one client message. A larger one gets an error and its connection is
	// closed, since the stream cannot be resynchronised. Default 4 MiB.
	MaxRequest int
	// ClientLogDir is where DistKV's log action may write its change logs ("" refuses log).
	ClientLogDir string
	// MaxValue caps one value: it must replicate through the peer data plane. Default 1 MiB.
	MaxValue int
	// WatchQueue is how many events a watch may have pending before it is ended with an
	// overflow error, so that a slow watcher never blocks writers. Default 4096.
	WatchQueue int
	// Qlen is the flow-control window per stream offered in the greeting (DistKV's qlen,
	// protocol.md "Flow control"). 0: DefaultQlen; negative: none offered.
	Qlen int
	// SnapshotEvery writes a snapshot after at least this many logged updates (0: 100000),
	// and once the log since the last snapshot is at least as large as that snapshot.
	SnapshotEvery int
	// Cluster settings; see the replication docs. Empty GossipAddr: a single node.
	GossipAddr string
	PeerAddr   string
	Join       []string
	// Profile selects gossip timings: "lan" (default) or "test".
	Profile string
	// ForgetAfter is how long a failed member stays a member (default: the gossip profile's,
	// 1h for lan). Tombstones are purged only when every member answered, so a partition holds
	// purges back; a node away longer than this is forgotten and resyncs when it returns.
	ForgetAfter time.Duration
	// JoinTimeout bounds the wait for the first contact with --join addresses; a node that
	// cannot reach any starts alone and keeps trying in the background. Default 15s.
	JoinTimeout time.Duration
	// MaxPeerFrame caps one peer data-plane frame. Default 64 MiB.
	MaxPeerFrame int
	// MaxPeerConns caps the peer data plane's open inbound connections; one more is closed at
	// once. A member holds one persistent push stream to each other member plus a few
	// short-lived requests, so this must exceed twice the network's size. Default 256.
	MaxPeerConns int
	// PeerHelloTimeout bounds the wait for a new peer connection's Hello, PeerIdleTimeout the
	// silence between two frames after it (pushers close idle streams at half of it).
	// Defaults 10s and 2m.
	PeerHelloTimeout time.Duration
	PeerIdleTimeout  time.Duration
	// Network and Transport replace real sockets for the peer data plane and for gossip
	// (in-process test clusters use gossip/memnet). Nil: TCP and UDP.
	Network   gossip.Network
	Transport memberlist.Transport
	// LogFS replaces the event log's file system, for fault injection in tests. Nil: the OS.
	LogFS eventlog.FS
	// Keyring, if set, is the cluster key: gossip is encrypted with it and the peer data plane
	// authenticated and encrypted (gossip/secure); peers without a key of it are refused.
	// KeyringFile, if set, is where keyring changes (the keyring action) are persisted.
	Keyring     *memberlist.Keyring
	KeyringFile string
	// HousekeepInterval is how often the housekeeper runs a round. Default 2s.
	HousekeepInterval time.Duration
	Logger            *slog.Logger
	// LeaveGCPace keeps the server from pacing the Go collector (gcpace.go: it sets GOGC after
	// every cycle while it runs, and loads state at a slower pace). For programs that embed a
	// server and set the pace themselves; GOGC or GOMEMLIMIT in the environment has the same
	// effect.
	LeaveGCPace bool

	// Client TLS (docs/security.md): with TLSCert and TLSKey (PEM files) the client
	// port speaks only TLS 1.2 or later; with TLSClientCA as well, every client must present a
	// certificate that CA signed. ReloadTLS reads the three files again.
	TLSCert     string
	TLSKey      string
	TLSClientCA string
	// HandshakeTimeout bounds a client's TLS handshake. Default 10s.
	HandshakeTimeout time.Duration

	// Client port limits. MaxConns caps the open client connections (default 1024) and
	// MaxConnsPerHost those from one source address (default 256); a connection beyond
	// either is closed at once. MaxStreams caps the concurrent streams (watch, get_tree,
	// snapshot) of one connection (default 256); one more gets an error reply.
	MaxConns        int
	MaxConnsPerHost int
	MaxStreams      int
	// WriteTimeout drops a client that takes longer than this to take one buffered write
	// (it stopped reading), so that it holds no queue or goroutine. Default 30s.
	WriteTimeout time.Duration
	// IdleTimeout closes a connection that sent nothing for this long and has no stream
	// running. 0 (the default): never; DistKV's clients keep a connection open while idle.
	IdleTimeout time.Duration

	// AdminAddr is the admin HTTP port (metrics, health, status page; server/admin.go).
	// Empty: off (the CLI's default is DefaultAdminAddr). AdminPprof adds /debug/pprof/.
	// AdminBestEffort logs a failure to open AdminAddr instead of failing the start. AdminTLS
	// serves the admin port over TLS with the client port's certificate and client CA (and
	// ReloadTLS's renewals).
	AdminAddr       string
	AdminPprof      bool
	AdminBestEffort bool
	AdminTLS        bool
}

// DefaultClientAddr is DistKV's port, 20000 + 100*'K' + 'V', on loopback.
const DefaultClientAddr = "127.0.0.1:27586"

// withDefaults returns a copy of c with every unset field filled in.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return c, errors.New("server: no --name and no host name")
		}
		c.Name = h
	}
	if c.ClientAddr == "" {
		c.ClientAddr = DefaultClientAddr
	}
	if c.Fsync == "" {
		c.Fsync = "always"
	}
	if c.MaxRequest <= 0 {
		c.MaxRequest = 4 << 20
	}
	if c.MaxValue <= 0 {
		c.MaxValue = min(1<<20, c.MaxRequest)
	}
	if c.MaxValue > c.MaxRequest {
		return c, fmt.Errorf("server: max value %d exceeds max request %d", c.MaxValue, c.MaxRequest)
	}
	if c.WatchQueue <= 0 {
		c.WatchQueue = 4096
	}
	if c.Qlen == 0 {
		c.Qlen = DefaultQlen
	}
	if c.SnapshotEvery <= 0 {
		c.SnapshotEvery = 100000
	}
	if c.Profile == "" {
		c.Profile = "lan"
	}
	if c.JoinTimeout <= 0 {
		c.JoinTimeout = 15 * time.Second
	}
	if c.MaxPeerFrame <= 0 {
		c.MaxPeerFrame = 64 << 20
	}
	if c.MaxPeerConns <= 0 {
		c.MaxPeerConns = 256
	}
	if c.PeerHelloTimeout <= 0 {
		c.PeerHelloTimeout = 10 * time.Second
	}
	if c.PeerIdleTimeout <= 0 {
		c.PeerIdleTimeout = 2 * time.Minute
	}
	if c.Network == nil {
		c.Network = gossip.TCP{}
	}
	if c.Keyring != nil {
		c.Network = secure.Wrap(c.Network, c.Keyring)
	}
	if c.HousekeepInterval <= 0 {
		c.HousekeepInterval = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return c, errors.New("server: a TLS certificate needs its key and a key its certificate")
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		return c, errors.New("server: a TLS client CA needs a server certificate and key")
	}
	if c.AdminTLS && (c.TLSCert == "" || c.AdminAddr == "") {
		return c, errors.New("server: admin TLS needs an admin address and a TLS certificate and key")
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 1024
	}
	if c.MaxConnsPerHost <= 0 {
		c.MaxConnsPerHost = min(256, c.MaxConns)
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = 256
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.IdleTimeout < 0 {
		c.IdleTimeout = 0
	}
	return c, nil
}
