package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/distkv/distkv/gossip/memnet"
	"github.com/distkv/distkv/node"
)

func TestClusterSmoke(t *testing.T) {
	net := memnet.New(1)
	var srvs []*Server
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < 3; i++ {
		ip := fmt.Sprintf("10.0.0.%d", i+1)
		h := net.Host(ip)
		tr, err := h.Transport(ip + ":7946")
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Name: fmt.Sprintf("n%d", i), ClientAddr: "127.0.0.1:0", GossipAddr: ip + ":7946",
			PeerAddr: ip + ":7000", Network: h, Transport: tr, Profile: "test", HousekeepInterval: 200 * time.Millisecond}
		if i > 0 {
			cfg.Join = []string{"10.0.0.1:7946"}
		}
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		for s.Addr() == nil {
			select {
			case err := <-done:
				t.Fatal(err)
			case <-time.After(10 * time.Millisecond):
			}
		}
		srvs = append(srvs, s)
	}
	for round := 0; round < 50; round++ {
		for i, s := range srvs {
			_, _, send, _, err := s.Write([]node.Change{{Path: node.StringPath("k", fmt.Sprint(round%7)), Value: node.AppendInt(nil, int64(i*1000+round))}})
			if err != nil {
				t.Fatal(err)
			}
			s.finish(context.Background(), 0, send)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ds [][2]uint64
		var miss []int
		for _, s := range srvs {
			s.Node(func(n *node.Node) { ds = append(ds, n.Digest(nil)); miss = append(miss, len(n.Missing())) })
		}
		if ds[0] == ds[1] && ds[1] == ds[2] && miss[0]+miss[1]+miss[2] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no convergence: digests %v missing %v", ds, miss)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, s := range srvs {
		s.Shutdown(context.Background())
	}
}
