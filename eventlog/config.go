package eventlog

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// SyncPolicy says when appended records are fsynced. The zero value is
// SyncAlways, the only policy under which an acknowledged record survives a
// machine crash.
type SyncPolicy int

const (
	// SyncAlways: group commit. Wait returns once the record's batch is
	// written and fsynced.
	SyncAlways SyncPolicy = iota
	// SyncInterval: Wait returns once the record is written to the OS; the
	// writer fsyncs every Config.SyncInterval.
	SyncInterval
	// SyncNever: Wait returns once the record is written to the OS; the OS
	// decides when it reaches the disk (segments are still fsynced when the
	// log rolls to a new one and on Close).
	SyncNever
)

var syncPolicyNames = [...]string{SyncAlways: "always", SyncInterval: "interval", SyncNever: "never"}

func (p SyncPolicy) String() string {
	if p >= 0 && int(p) < len(syncPolicyNames) {
		return syncPolicyNames[p]
	}
	return fmt.Sprintf("SyncPolicy(%d)", int(p))
}

// ParseSyncPolicy parses "always", "interval" or "never" (the String forms).
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	for p, name := range syncPolicyNames {
		if strings.EqualFold(s, name) {
			return SyncPolicy(p), nil
		}
	}
	return 0, fmt.Errorf("eventlog: unknown sync policy %q (want always, interval or never)", s)
}

// Config configures a Log. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Dir holds the segment files and nothing else of the log's; other files
	// in it are ignored. Created if missing.
	Dir string
	// Sync is the durability policy Wait waits for.
	Sync SyncPolicy
	// SyncInterval is the fsync period under SyncInterval.
	SyncInterval time.Duration
	// SegmentSize: the log rolls to a new segment before writing a batch once
	// the current one has reached this size. A segment can exceed it by one
	// batch, because a batch is never split.
	SegmentSize int64
	// MaxRecord is the largest record Append accepts, at most MaxRecordLimit.
	MaxRecord int
	// Logger receives disk errors and segment rolls. Nil discards.
	Logger *slog.Logger
	// FS is the file system, for fault injection in tests. Nil means the OS.
	FS FS
	// Observe, if not nil, is called by the writer goroutine after each batch
	// it wrote, with what the batch held and where its time went (metrics). It
	// must return quickly and must not call the Log.
	Observe func(BatchStats)
}

// BatchStats describes one batch the writer wrote.
type BatchStats struct {
	Records int           // records in the batch
	Bytes   int           // bytes written for them
	Gather  time.Duration // from the first record's Append to the start of the write
	Write   time.Duration // the write, and under SyncAlways its fsync, until its waiters are woken
	Err     error         // the batch's failure, or nil
}

// DefaultConfig returns the configuration the server uses for dir.
func DefaultConfig(dir string) Config {
	return Config{
		Dir:          dir,
		Sync:         SyncAlways,             // an acknowledged write must survive power loss
		SyncInterval: 100 * time.Millisecond, // bounds the loss window under SyncInterval
		SegmentSize:  64 << 20,               // few files, yet RemoveBefore frees space promptly
		MaxRecord:    16 << 20,               // far above any sane update, far below memory limits
	}
}

// withDefaults returns a validated copy of c with defaults filled in; it
// never modifies the caller's Config.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig(c.Dir)
	if c.Dir == "" {
		return c, errors.New("eventlog: Config.Dir is empty")
	}
	if c.Sync < SyncAlways || c.Sync > SyncNever {
		return c, fmt.Errorf("eventlog: invalid sync policy %v", c.Sync)
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = d.SyncInterval
	}
	if c.SegmentSize <= 0 {
		c.SegmentSize = d.SegmentSize
	}
	if c.MaxRecord <= 0 {
		c.MaxRecord = d.MaxRecord
	}
	if c.MaxRecord > MaxRecordLimit {
		return c, fmt.Errorf("eventlog: MaxRecord %d exceeds the format limit %d", c.MaxRecord, MaxRecordLimit)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.FS == nil {
		c.FS = OSFS{}
	}
	return c, nil
}
