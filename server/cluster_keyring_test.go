package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
	"github.com/hashicorp/memberlist"
)

// TestClusterKeyRotation runs an encrypted in-process cluster (memberlist encrypts above memnet's
// transport, gossip/secure wraps memnet's streams) and rotates its key while writers run: every
// write arrives and every node ends with the new key only.
func TestClusterKeyRotation(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	rings := map[int]*memberlist.Keyring{}
	c := servertest.New(t, servertest.Options{N: 3, Seed: 9, Configure: func(i int, cfg *server.Config) {
		kr, err := memberlist.NewKeyring(nil, k1)
		if err != nil {
			t.Fatal(err)
		}
		rings[i], cfg.Keyring = kr, kr
	}})
	wait := startLoad(t, c, all(c), loadSpec{Writers: 1, Writes: 300, Paths: 40, Pace: 2 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b64 := func(k []byte) string { return base64.StdEncoding.EncodeToString(k) }
	for _, step := range []struct{ op, key string }{{gossip.KeyInstall, b64(k2)}, {gossip.KeyUse, b64(k2)}, {gossip.KeyRemove, b64(k1)}} {
		time.Sleep(200 * time.Millisecond)
		if _, err := c.Client(1).Keyring(ctx, step.op, step.key); err != nil {
			t.Fatalf("keyring %s: %v", step.op, err)
		}
	}
	st, err := c.Client(2).Keyring(ctx, gossip.KeyList, "")
	if err != nil {
		t.Fatal(err)
	}
	id2 := gossip.KeyIDString(k2)
	if st.Responses != 3 || len(st.Keys) != 1 || st.Keys[id2] != 3 || st.Primary[id2] != 3 {
		t.Fatalf("keyring list after the rotation: %+v (want only %s, on 3)", st, id2)
	}
	res := wait()
	for _, err := range res.errs {
		t.Errorf("writer: %v", err)
	}
	for i, kr := range rings {
		if ks := kr.GetKeys(); len(ks) != 1 || !bytes.Equal(ks[0], k2) {
			t.Errorf("n%d keeps %d keys", i, len(ks))
		}
	}
	checkCluster(t, c, 60*time.Second)
}

// A node without a cluster key refuses keyring requests: serf cannot turn encryption on.
func TestKeyringWithoutKey(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Client(0).Keyring(ctx, gossip.KeyInstall, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)))
	if err == nil || !strings.Contains(err.Error(), "no cluster key") {
		t.Fatalf("keyring install on a node without a key: %v", err)
	}
}
