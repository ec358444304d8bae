package gossip

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/gossip/memnet"
	"github.com/hashicorp/serf/serf"
)

func TestConfigErrors(t *testing.T) {
	tr := func() *memnet.Transport {
		tr, err := memnet.New(1).Transport("10.0.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no name", Config{BindAddr: "127.0.0.1:0"}, "Name is required"},
		{"no port", Config{Name: "a", BindAddr: "127.0.0.1"}, "BindAddr"},
		{"bad port", Config{Name: "a", BindAddr: "127.0.0.1:99999"}, "BindAddr"},
		{"advertise host name", Config{Name: "a", Transport: tr(), AdvertiseAddr: "example.com:1"}, "AdvertiseAddr"},
		{"profile", Config{Name: "a", Transport: tr(), Profile: "wan"}, "unknown Profile"},
		{"tags too large", Config{Name: "a", Transport: tr(), Tags: map[string]string{"x": strings.Repeat("y", 600)}}, "tags"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Logger = testLogger(t, slog.LevelError)
			g, err := New(tc.cfg)
			if err == nil {
				_ = g.Shutdown()
				t.Fatalf("New succeeded, want an error about %s", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestFailedNewReleasesTransport checks that a failed New shuts the transport
// down, so its address can be bound again.
func TestFailedNewReleasesTransport(t *testing.T) {
	net := memnet.New(1)
	tr, err := net.Transport("10.0.0.1:7946")
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{Name: "a", Transport: tr, Tags: map[string]string{"x": strings.Repeat("y", 600)}, Logger: testLogger(t, slog.LevelError)})
	if err == nil {
		t.Fatal("New with oversized tags succeeded")
	}
	tr, err = net.Transport("10.0.0.1:7946")
	if err != nil {
		t.Fatalf("address still bound after a failed New: %v", err)
	}
	_ = tr.Shutdown()
}

func TestProfiles(t *testing.T) {
	build := func(profile string) *serf.Config {
		cfg := DefaultConfig()
		cfg.Profile = profile
		sc, err := cfg.serfConfig(make(chan serf.Event), new(atomic.Bool))
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	lan := build(ProfileLAN)
	if lan.UserEventSizeLimit != 1300 || lan.EventBuffer != 2048 || lan.ReconnectInterval != 5*time.Second ||
		lan.ReconnectTimeout != time.Hour || lan.TombstoneTimeout != time.Hour {
		t.Errorf("lan profile: %+v", lan)
	}
	if ml := lan.MemberlistConfig; ml.GossipInterval != 200*time.Millisecond || ml.BindAddr != "0.0.0.0" || ml.BindPort != 7946 {
		t.Errorf("lan memberlist: gossip %v, bind %s:%d", ml.GossipInterval, ml.BindAddr, ml.BindPort)
	}
	if lan.Logger == nil || lan.LogOutput != nil || lan.MemberlistConfig.Logger == nil || lan.MemberlistConfig.LogOutput != nil {
		t.Errorf("logs must go to the slog logger only, in both configs")
	}
	if got := build("").ReconnectInterval; got != lan.ReconnectInterval {
		t.Errorf("empty profile is not lan: reconnect %v", got)
	}
	test := build(ProfileTest)
	if test.UserEventSizeLimit != lan.UserEventSizeLimit || test.EventBuffer != lan.EventBuffer {
		t.Errorf("the test profile must carry events like lan does")
	}
	if ml := test.MemberlistConfig; ml.GossipInterval != 50*time.Millisecond || ml.ProbeInterval != 200*time.Millisecond ||
		test.ReconnectInterval != 500*time.Millisecond {
		t.Errorf("test profile timers: gossip %v, probe %v, reconnect %v", ml.GossipInterval, ml.ProbeInterval, test.ReconnectInterval)
	}
	if eventBudget(lan) != 1300 || packetBudget(lan) != 1395 {
		t.Errorf("budgets: event %d, packet %d; want 1300, 1395", eventBudget(lan), packetBudget(lan))
	}
}

// TestAdvertiseAddr checks that an explicit advertise address is what the
// node reports, rather than the bound one.
func TestAdvertiseAddr(t *testing.T) {
	tr, err := memnet.New(1).Transport("10.0.0.1:7946")
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, Config{Name: "a", Transport: tr, AdvertiseAddr: "192.0.2.1:7000", Profile: ProfileTest}, true)
	if got := n.LocalMember().Addr; got != "192.0.2.1:7000" {
		t.Errorf("LocalMember().Addr = %s, want the advertised 192.0.2.1:7000", got)
	}
	_ = n.Shutdown()
}

func TestParseLogLine(t *testing.T) {
	for _, tc := range []struct {
		line      string
		level     slog.Level
		component string
		msg       string
	}{
		{"[WARN] memberlist: Refuting a suspect message (from: n1)\n", slog.LevelWarn, "memberlist", "Refuting a suspect message (from: n1)"},
		{"[ERR] serf: Failed to broadcast\n", slog.LevelError, "serf", "Failed to broadcast"},
		{"[ERROR] memberlist: Failed to compress payload\n", slog.LevelError, "memberlist", "Failed to compress payload"},
		{"[INFO] serf: EventMemberJoin: n1 10.0.0.1\n", slog.LevelDebug, "serf", "EventMemberJoin: n1 10.0.0.1"},
		{"[DEBUG] memberlist: Stream connection from=x\n", slog.LevelDebug, "memberlist", "Stream connection from=x"},
		{"Err: Could not set the deadline: x\n", slog.LevelDebug, "gossip", "Err: Could not set the deadline: x"},
	} {
		level, component, msg := parseLogLine(tc.line)
		if level != tc.level || component != tc.component || msg != tc.msg {
			t.Errorf("parseLogLine(%q) = %v %q %q", tc.line, level, component, msg)
		}
	}
}

func TestStrings(t *testing.T) {
	if StatusFailed.String() != "failed" || MemberStatus(0).String() != "unknown(0)" {
		t.Errorf("MemberStatus strings: %v %v", StatusFailed, MemberStatus(0))
	}
	if MemberReap.String() != "reap" || MemberEventKind(9).String() != "unknown(9)" {
		t.Errorf("MemberEventKind strings: %v %v", MemberReap, MemberEventKind(9))
	}
}
