package server

import (
	"errors"

	"fmt"
	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/gossip/secure"
	"github.com/hashicorp/memberlist"
	"log/slog"
	"os"
	"time"
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
	// MaxValue caps one value: it must replicate through the peer data plane. Default 1 MiB.
	MaxValue int
	// WatchQueue is how many events a watch may have pending before it is ended with an
	// overflow error, so that a slow watcher never blocks writers. Default 4096.
	WatchQueue int
	// SnapshotEvery writes a snapshot after this many logged updates (0: 100000).
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
	// Network and Transport replace real sockets for the peer data plane and for gossip
	// (in-process test clusters use gossip/memnet). Nil: TCP and UDP.
	Network   gossip.Network
	Transport memberlist.Transport
	// Keyring, if set, is the cluster key: gossip is encrypted with it and the peer data plane
	// authenticated and encrypted (gossip/secure); peers without a key of it are refused.
	// KeyringFile, if set, is where keyring changes (the keyring action) are persisted.
	Keyring     *memberlist.Keyring
	KeyringFile string
	// HousekeepInterval is how often the housekeeper runs a round. Default 2s.
	HousekeepInterval time.Duration
	Logger            *slog.Logger
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
	return c, nil
}
