package secure

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/distkv/distkv/gossip"
)

// Handshake layout (docs/replication.md, "Secure data plane"). Every message has a fixed size.
const (
	magic     = "DKVS"
	version   = 1
	nonceLen  = 32
	pubLen    = 32 // X25519
	macLen    = sha256.Size
	helloLen  = len(magic) + 1 + gossip.KeyIDLen + nonceLen + pubLen // client hello
	shelloLen = helloLen + macLen                                    // server hello
	finishLen = macLen                                               // client finish
)

// Labels keep each MAC and the key derivation apart, so that no message can stand in for another.
const (
	labelServer = "distkv peer v1 server finished"
	labelClient = "distkv peer v1 client finished"
	labelKeys   = "distkv peer v1 keys"
)

// ErrHandshake is the cause of every failed handshake: wrong or unknown key, a peer that does not
// speak this protocol (plaintext), a tampered message.
var ErrHandshake = errors.New("secure: handshake failed")

// sessionKeys are the two directions' AEAD keys.
type sessionKeys struct{ c2s, s2c []byte }

// hello builds a hello: magic, version, key id, a fresh nonce and an ephemeral public key.
func hello(keyID [gossip.KeyIDLen]byte) ([]byte, *ecdh.PrivateKey, error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("secure: ephemeral key: %w", err)
	}
	b := make([]byte, 0, shelloLen)
	b = append(b, magic...)
	b = append(b, version)
	b = append(b, keyID[:]...)
	b = b[:len(b)+nonceLen]
	if _, err := rand.Read(b[len(b)-nonceLen:]); err != nil {
		return nil, nil, fmt.Errorf("secure: nonce: %w", err)
	}
	b = append(b, priv.PublicKey().Bytes()...)
	return b, priv, nil
}

// parseHello checks a hello's magic and version and returns its key id and public key.
func parseHello(b []byte) (id [gossip.KeyIDLen]byte, pub *ecdh.PublicKey, err error) {
	if !bytes.HasPrefix(b, []byte(magic)) || b[len(magic)] != version {
		return id, nil, fmt.Errorf("%w: not a distkv secure peer (plaintext, or another version)", ErrHandshake)
	}
	copy(id[:], b[len(magic)+1:])
	pub, err = ecdh.X25519().NewPublicKey(b[helloLen-pubLen : helloLen])
	if err != nil {
		return id, nil, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	return id, pub, nil
}

// mac is HMAC-SHA256 with the cluster key over a label and a transcript's hash.
func mac(key []byte, label string, transcript ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write(hashOf(transcript))
	return m.Sum(nil)
}

// hashOf is the SHA-256 of a transcript's messages in order.
func hashOf(transcript [][]byte) []byte {
	h := sha256.New()
	for _, t := range transcript {
		h.Write(t)
	}
	return h.Sum(nil)
}

// derive computes the session keys: HKDF-SHA256 over the X25519 secret, salted with the cluster
// key, with the whole transcript's hash as context.
func derive(priv *ecdh.PrivateKey, peer *ecdh.PublicKey, key []byte, transcript ...[]byte) (sessionKeys, error) {
	z, err := priv.ECDH(peer) // fails on low-order points (an all-zero secret)
	if err != nil {
		return sessionKeys{}, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	okm, err := hkdf.Key(sha256.New, z, key, labelKeys+string(hashOf(transcript)), 64)
	if err != nil {
		return sessionKeys{}, fmt.Errorf("secure: hkdf: %w", err)
	}
	return sessionKeys{c2s: okm[:32], s2c: okm[32:]}, nil
}

// clientHandshake runs the dialer's side over rw with the primary key.
func clientHandshake(rw io.ReadWriter, keys KeySource) (sessionKeys, [gossip.KeyIDLen]byte, error) {
	ks := keys.GetKeys()
	if len(ks) == 0 {
		return sessionKeys{}, [gossip.KeyIDLen]byte{}, fmt.Errorf("%w: no cluster key", ErrHandshake)
	}
	key := ks[0]
	id := gossip.KeyID(key)
	ch, priv, err := hello(id)
	if err != nil {
		return sessionKeys{}, id, err
	}
	if _, err := rw.Write(ch); err != nil {
		return sessionKeys{}, id, fmt.Errorf("secure: send hello: %w", err)
	}
	sh := make([]byte, shelloLen)
	if _, err := io.ReadFull(rw, sh); err != nil {
		return sessionKeys{}, id, fmt.Errorf("%w: read server hello: %w", ErrHandshake, err)
	}
	sid, spub, err := parseHello(sh)
	if err != nil {
		return sessionKeys{}, id, err
	}
	if sid != id || !hmac.Equal(sh[helloLen:], mac(key, labelServer, ch, sh[:helloLen])) {
		return sessionKeys{}, id, fmt.Errorf("%w: the peer does not hold the cluster key", ErrHandshake)
	}
	fin := mac(key, labelClient, ch, sh)
	if _, err := rw.Write(fin); err != nil {
		return sessionKeys{}, id, fmt.Errorf("secure: send finish: %w", err)
	}
	sk, err := derive(priv, spub, key, ch, sh, fin)
	return sk, id, err
}

// serverHandshake runs the acceptor's side over rw, accepting any installed key.
func serverHandshake(rw io.ReadWriter, keys KeySource) (sessionKeys, [gossip.KeyIDLen]byte, error) {
	ch := make([]byte, helloLen)
	if _, err := io.ReadFull(rw, ch); err != nil {
		return sessionKeys{}, [gossip.KeyIDLen]byte{}, fmt.Errorf("%w: read client hello: %w", ErrHandshake, err)
	}
	id, cpub, err := parseHello(ch)
	if err != nil {
		return sessionKeys{}, id, err
	}
	var key []byte
	for _, k := range keys.GetKeys() {
		if gossip.KeyID(k) == id {
			key = k
			break
		}
	}
	if key == nil {
		return sessionKeys{}, id, fmt.Errorf("%w: unknown key id %x", ErrHandshake, id)
	}
	sh, priv, err := hello(id)
	if err != nil {
		return sessionKeys{}, id, err
	}
	sh = append(sh, mac(key, labelServer, ch, sh)...)
	if _, err := rw.Write(sh); err != nil {
		return sessionKeys{}, id, fmt.Errorf("secure: send hello: %w", err)
	}
	fin := make([]byte, finishLen)
	if _, err := io.ReadFull(rw, fin); err != nil {
		return sessionKeys{}, id, fmt.Errorf("%w: read finish: %w", ErrHandshake, err)
	}
	if !hmac.Equal(fin, mac(key, labelClient, ch, sh)) {
		return sessionKeys{}, id, fmt.Errorf("%w: the peer does not hold the cluster key", ErrHandshake)
	}
	sk, err := derive(priv, cpub, key, ch, sh, fin)
	return sk, id, err
}
