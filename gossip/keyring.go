package gossip

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// KeyIDLen is the length of a key id in bytes.
const KeyIDLen = 8

// KeyID names a cluster key without revealing it: the first 8 bytes of
// SHA-256("distkv key id\x00" || key). The peer data plane's handshake sends it
// so that the receiver picks the right key, and `distkv keyring list` shows it.
func KeyID(key []byte) [KeyIDLen]byte {
	h := sha256.New()
	h.Write([]byte("distkv key id\x00"))
	h.Write(key)
	var id [KeyIDLen]byte
	copy(id[:], h.Sum(nil))
	return id
}

// KeyIDString is KeyID in hex, as operators see it.
func KeyIDString(key []byte) string {
	id := KeyID(key)
	return hex.EncodeToString(id[:])
}

// ParseKey decodes a cluster key: standard base64 of 16, 24 or 32 bytes
// (AES-128, -192 or -256 for gossip; the data plane always derives 256-bit keys).
func ParseKey(b64 string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, fmt.Errorf("gossip key: not base64: %w", err)
	}
	if err := memberlist.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("gossip key: %d bytes: %w", len(key), err)
	}
	return key, nil
}

// LoadKeyring builds the node's keyring. A keyring file that exists wins: its
// keys (a JSON list of base64 keys, primary first, serf's format) are the
// keyring, and key, if given, is ignored (fromFile reports it), so that a
// restart never brings back a key that a rotation removed. Otherwise key, if
// given, is the only key, and is written to file when file is named, so that
// serf can keep the file up to date from then on. With neither, the keyring
// is nil: no encryption.
func LoadKeyring(key, file string) (kr *memberlist.Keyring, fromFile bool, err error) {
	if file != "" {
		b, err := os.ReadFile(file)
		switch {
		case err == nil:
			kr, err := parseKeyringFile(b)
			if err != nil {
				return nil, false, fmt.Errorf("keyring file %s: %w", file, err)
			}
			return kr, true, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, false, fmt.Errorf("keyring file: %w", err)
		}
	}
	if key == "" {
		return nil, false, nil
	}
	k, err := ParseKey(key)
	if err != nil {
		return nil, false, err
	}
	kr, err = memberlist.NewKeyring(nil, k)
	if err != nil {
		return nil, false, fmt.Errorf("gossip key: %w", err)
	}
	if file != "" {
		if err := writeKeyringFile(file, [][]byte{k}); err != nil {
			return nil, false, err
		}
	}
	return kr, false, nil
}

func parseKeyringFile(b []byte) (*memberlist.Keyring, error) {
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("want a JSON list of base64 keys: %w", err)
	}
	if len(list) == 0 {
		return nil, errors.New("no keys")
	}
	keys := make([][]byte, len(list))
	for i, s := range list {
		k, err := ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		keys[i] = k
	}
	kr, err := memberlist.NewKeyring(keys[1:], keys[0])
	if err != nil {
		return nil, err
	}
	return kr, nil
}

// writeKeyringFile writes keys in serf's format, mode 0600, atomically.
func writeKeyringFile(file string, keys [][]byte) error {
	list := make([]string, len(keys))
	for i, k := range keys {
		list[i] = base64.StdEncoding.EncodeToString(k)
	}
	b, _ := json.MarshalIndent(list, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(file), ".keyring-*")
	if err != nil {
		return fmt.Errorf("keyring file: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(b)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		return fmt.Errorf("keyring file: %w", err)
	}
	return nil
}

// HasKey reports whether kr holds key.
func HasKey(kr *memberlist.Keyring, key []byte) bool {
	for _, k := range kr.GetKeys() {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}

// Keyring operations of the cluster's key manager.
const (
	KeyList    = "list"
	KeyInstall = "install"
	KeyUse     = "use"
	KeyRemove  = "remove"
)

// KeyringStatus is the cluster's answer to a keyring operation. Keys are
// named by KeyIDString, never shown.
type KeyringStatus struct {
	Nodes     int               // members serf counted
	Responses int               // members that answered
	Keys      map[string]int    // key id -> members holding it
	Primary   map[string]int    // key id -> members using it as primary
	Messages  map[string]string // member -> its error or warning
}

// Keyring runs a keyring operation on every member through serf's key
// manager (queries to all members): KeyList, or KeyInstall, KeyUse, KeyRemove
// of key (base64). Rotation is install a new key everywhere, use it, remove
// the old one. The status is filled in as far as members answered, also when
// the error reports that some failed or did not answer.
func (g *Gossip) Keyring(op, key string) (KeyringStatus, error) {
	if g.closed.Load() {
		return KeyringStatus{}, ErrClosed
	}
	key = strings.TrimSpace(key)
	if op != KeyList {
		if _, err := ParseKey(key); err != nil {
			return KeyringStatus{}, err
		}
	}
	km := g.serf.KeyManager()
	var resp *serf.KeyResponse
	var err error
	switch op {
	case KeyList:
		resp, err = km.ListKeys()
	case KeyInstall:
		resp, err = km.InstallKey(key)
	case KeyUse:
		resp, err = km.UseKey(key)
	case KeyRemove:
		resp, err = km.RemoveKey(key)
	default:
		return KeyringStatus{}, fmt.Errorf("gossip: keyring: unknown operation %q", op)
	}
	st := statusOf(resp)
	if err != nil {
		return st, fmt.Errorf("gossip: keyring %s: %w", op, err)
	}
	return st, nil
}

// statusOf converts serf's answer, naming keys by id.
func statusOf(r *serf.KeyResponse) KeyringStatus {
	st := KeyringStatus{Keys: map[string]int{}, Primary: map[string]int{}, Messages: map[string]string{}}
	if r == nil {
		return st
	}
	st.Nodes, st.Responses = r.NumNodes, r.NumResp
	maps.Copy(st.Messages, r.Messages)
	for dst, src := range map[*map[string]int]map[string]int{&st.Keys: r.Keys, &st.Primary: r.PrimaryKeys} {
		for b64, n := range src {
			if b64 == "" {
				continue // members that answered without a primary (encryption off)
			}
			id := b64 // not base64: show it as serf gave it
			if k, err := base64.StdEncoding.DecodeString(b64); err == nil {
				id = KeyIDString(k)
			}
			(*dst)[id] += n
		}
	}
	return st
}
