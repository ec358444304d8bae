// Package dh is both sides of DistKV's password exchange: a finite-field Diffie-Hellman key
// agreement in RFC 3526 group 14 (2048-bit MODP, generator 2), whose shared secret's first
// 32 bytes key a NaCl secretbox that carries the sha256 of the password.
//
// The wire form is DistKV's (distkv/client.py dh_secret, distkv/auth/password.py): public
// keys are unsigned big-endian integers without leading zeros, the key is the first 32 bytes
// of the shared secret in the same form, and a box is its 24-byte nonce followed by the
// sealed bytes, as PyNaCl's SecretBox.encrypt returns it.
package dh

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/nacl/secretbox"
)

// group14 is the RFC 3526 2048-bit MODP prime.
var group14, _ = new(big.Int).SetString(
	"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1"+
		"29024E088A67CC74020BBEA63B139B22514A08798E3404DD"+
		"EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245"+
		"E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"+
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D"+
		"C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"+
		"83655D23DCA3AD961C62F356208552BB9ED529077096966D"+
		"670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"+
		"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9"+
		"DE2BCBF6955817183995497CEA956AE515D2261898FA0510"+
		"15728E5A8AACAA68FFFFFFFFFFFFFFFF", 16)

var generator = big.NewInt(2)

// MinLength is the smallest private key length in bits this package uses; DistKV's client
// asks for 1024 (below 32 it would use group 5, which is not offered).
const MinLength = 256

// Key is one side's ephemeral key pair.
type Key struct {
	priv *big.Int
	pub  *big.Int
}

// NewKey makes a key pair with a private exponent of about bits bits (at least MinLength).
func NewKey(bits int) (*Key, error) {
	bits = max(bits, MinLength)
	b := make([]byte, bits/8+8) // as the diffiehellman package DistKV uses
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("dh: %w", err)
	}
	priv := new(big.Int).SetBytes(b)
	return &Key{priv: priv, pub: new(big.Int).Exp(generator, priv, group14)}, nil
}

// Public is the public key in DistKV's wire form.
func (k *Key) Public() []byte { return k.pub.Bytes() }

// ErrBadKey means the peer's public key is not in the group's prime-order subgroup.
var ErrBadKey = errors.New("dh: bad public key")

// Shared returns the secretbox key agreed with the peer whose public key is peer.
func (k *Key) Shared(peer []byte) ([32]byte, error) {
	var out [32]byte
	y := new(big.Int).SetBytes(peer)
	pm1 := new(big.Int).Sub(group14, big.NewInt(1))
	// 1 < y < p-1, and y a quadratic residue (group 14 is a safe prime: the subgroup of
	// order q = (p-1)/2), as the diffiehellman package checks.
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(pm1) >= 0 ||
		new(big.Int).Exp(y, new(big.Int).Rsh(pm1, 1), group14).Cmp(big.NewInt(1)) != 0 {
		return out, ErrBadKey
	}
	s := new(big.Int).Exp(y, k.priv, group14).Bytes()
	if len(s) < 32 {
		return out, ErrBadKey
	}
	copy(out[:], s[:32])
	return out, nil
}

// SealPassword is the client's side: the secretbox of sha256(password) under key.
func SealPassword(key [32]byte, password []byte) ([]byte, error) {
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("dh: %w", err)
	}
	sum := sha256.Sum256(password)
	return secretbox.Seal(nonce[:], sum[:], &nonce, &key), nil
}

// ErrOpen means a box did not open under the key: wrong key, or tampered with.
var ErrOpen = errors.New("dh: box does not open")

// Open is the server's side: the sealed bytes of a box (for a password, its sha256).
func Open(key [32]byte, box []byte) ([]byte, error) {
	if len(box) < 24+secretbox.Overhead {
		return nil, ErrOpen
	}
	var nonce [24]byte
	copy(nonce[:], box)
	out, ok := secretbox.Open(nil, box[24:], &nonce, &key)
	if !ok {
		return nil, ErrOpen
	}
	return out, nil
}

// KeyFromPrivate rebuilds a key pair from a private exponent (big-endian), for checking a
// recorded exchange.
func KeyFromPrivate(priv []byte) *Key {
	x := new(big.Int).SetBytes(priv)
	return &Key{priv: x, pub: new(big.Int).Exp(generator, x, group14)}
}
