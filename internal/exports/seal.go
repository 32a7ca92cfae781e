package exports

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// SealKey is a secret from which the key sealing cached answers is derived.
// The link key ring serves: ID is the key id, Secret its bytes.
type SealKey struct {
	ID     string
	Secret []byte
}

// sealInfo binds derived keys to this one use, so the AES key never equals
// a key that signs links.
const sealInfo = "dms-export-link exports cache v1"

// Sealer encrypts and authenticates cached answers (AES-256-GCM) before they
// go to a shared store: an OSS URL is a bearer secret, and whoever can read
// Redis must not find one. The store key is the additional data, so a value
// copied under another ticket's key does not open.
//
// The first key seals; every key opens, so a new key can be put in front of
// the ring without losing the cache. A value sealed under a key that left
// the ring reads as a miss and is replaced by the next DMS answer.
type Sealer struct {
	current string
	aeads   map[string]cipher.AEAD
}

// NewSealer derives one AES key per SealKey with HKDF-SHA256; it fails for
// no keys, an empty or long id, or a secret under 16 bytes.
func NewSealer(keys []SealKey) (*Sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("exports: no seal key")
	}
	s := &Sealer{current: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, k := range keys {
		if k.ID == "" || len(k.ID) > 255 || len(k.Secret) < 16 {
			return nil, errors.New("exports: a seal key needs an id of 1-255 bytes and a secret of 16+ bytes")
		}
		raw, err := hkdf.Key(sha256.New, k.Secret, nil, sealInfo, 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		s.aeads[k.ID] = aead
	}
	return s, nil
}

// seal returns len(id) | id | nonce | ciphertext+tag.
func (s *Sealer) seal(storeKey string, plain []byte) []byte {
	aead := s.aeads[s.current]
	out := make([]byte, 0, 1+len(s.current)+aead.NonceSize()+len(plain)+aead.Overhead())
	out = append(out, byte(len(s.current)))
	out = append(out, s.current...)
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plain, []byte(storeKey))
}

// open reverses seal; ok is false for anything not sealed under a key of the
// ring for this storeKey.
func (s *Sealer) open(storeKey string, blob []byte) ([]byte, bool) {
	if len(blob) < 1 || len(blob) < 1+int(blob[0]) {
		return nil, false
	}
	id := string(blob[1 : 1+int(blob[0])])
	aead, ok := s.aeads[id]
	if !ok {
		return nil, false
	}
	rest := blob[1+len(id):]
	if len(rest) < aead.NonceSize() {
		return nil, false
	}
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], []byte(storeKey))
	return plain, err == nil
}
