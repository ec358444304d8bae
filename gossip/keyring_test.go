package gossip

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distkv/distkv/gossip/memnet"
	"github.com/hashicorp/memberlist"
)

func b64(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// Nodes with the key form a cluster over memnet (memberlist encrypts above the transport); a
// node without it, or with another key, cannot join. Rotation reaches every member and is
// written to its keyring file.
func TestKeyringJoinAndRotate(t *testing.T) {
	k1, k2, other := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16), bytes.Repeat([]byte{3}, 32)
	dir := t.TempDir()
	net := memnet.New(1)
	keyed := memNodes(t, net, 3, func(c *Config) {
		kr, _, err := LoadKeyring(b64(k1), filepath.Join(dir, c.Name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		c.Keyring, c.KeyringFile = kr, filepath.Join(dir, c.Name+".json")
	})
	joinAll(t, keyed)
	waitFor(t, "keyed nodes see each other", func() (bool, string) { return seesAs(keyed, keyed, StatusAlive) })

	for i, key := range [][]byte{nil, other} {
		tr, err := net.Transport("10.0.1." + string(rune('1'+i)) + ":7946")
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Name: "outsider" + string(rune('a'+i)), Transport: tr, Profile: ProfileTest}
		if key != nil {
			cfg.Keyring, _ = memberlist.NewKeyring(nil, key)
		}
		out := startNode(t, cfg, true)
		if _, err := out.Join([]string{keyed[0].LocalMember().Addr}); err == nil {
			t.Errorf("%s joined the keyed cluster", cfg.Name)
		}
		for _, n := range keyed {
			if _, ok := statuses(n)[cfg.Name]; ok {
				t.Errorf("%s knows %s", n.name, cfg.Name)
			}
		}
	}

	for _, step := range []struct{ op, key string }{{KeyInstall, b64(k2)}, {KeyUse, b64(k2)}, {KeyRemove, b64(k1)}} {
		if st, err := keyed[1].Keyring(step.op, step.key); err != nil || st.Responses != 3 {
			t.Fatalf("%s: %+v, %v", step.op, st, err)
		}
	}
	st, err := keyed[2].Keyring(KeyList, "")
	if err != nil {
		t.Fatal(err)
	}
	id := KeyIDString(k2)
	if len(st.Keys) != 1 || st.Keys[id] != 3 || st.Primary[id] != 3 {
		t.Fatalf("after the rotation: %+v, want only %s on 3", st, id)
	}
	for _, n := range keyed {
		kr, fromFile, err := LoadKeyring(b64(k1), filepath.Join(dir, n.name+".json"))
		if err != nil || !fromFile || len(kr.GetKeys()) != 1 || !bytes.Equal(kr.GetKeys()[0], k2) {
			t.Errorf("%s's keyring file after the rotation: %v, %v", n.name, fromFile, err)
		}
	}
	if _, err := keyed[0].Keyring(KeyInstall, "short"); err == nil {
		t.Error("installed a malformed key")
	}
	if _, err := keyed[0].Keyring("drop", b64(k2)); err == nil {
		t.Error("ran an unknown operation")
	}
}

func TestLoadKeyring(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := bytes.Repeat([]byte{1}, 24), bytes.Repeat([]byte{2}, 32)
	if kr, _, err := LoadKeyring("", filepath.Join(dir, "none.json")); kr != nil || err != nil {
		t.Fatalf("no key, no file: %v, %v", kr, err)
	}
	f := filepath.Join(dir, "k.json")
	os.WriteFile(f, []byte(`["`+b64(k2)+`", "`+b64(k1)+`"]`), 0o600)
	kr, fromFile, err := LoadKeyring(b64(k1), f)
	if err != nil || !fromFile || !bytes.Equal(kr.GetPrimaryKey(), k2) || len(kr.GetKeys()) != 2 {
		t.Fatalf("file: %v, %v", fromFile, err)
	}
	for _, bad := range []string{`[]`, `{}`, `["!!"]`, `["` + b64([]byte("short")) + `"]`} {
		os.WriteFile(f, []byte(bad), 0o600)
		if _, _, err := LoadKeyring("", f); err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if KeyIDString(k1) == KeyIDString(k2) || len(KeyIDString(k1)) != 2*KeyIDLen {
		t.Error("key ids")
	}
}
