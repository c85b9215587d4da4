package models

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// NewToken returns a random 256-bit secret encoded as unpadded base64url.
// Everything Latchkey hands out as a bearer secret is made here.
func NewToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken returns the SHA-256 of a high-entropy token. Tokens are random
// 256-bit values, so a fast unsalted hash is enough for a lookup key and
// leaks nothing useful (no dictionary to try).
func HashToken(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}

// Sealer encrypts small secrets (private keys, the op crypto key) with the
// master key using AES-256-GCM. The associated data binds a ciphertext to
// its purpose so rows cannot be swapped.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("master key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext; the nonce is prepended to the result.
func (s *Sealer) Seal(plaintext, aad []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return s.aead.Seal(nonce, nonce, plaintext, aad)
}

// Open decrypts what Seal produced with the same aad.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("sealed value too short")
	}
	pt, err := s.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, errors.New("cannot decrypt: wrong master key or corrupted value")
	}
	return pt, nil
}

// MasterKeyFile is the name of the key file created in the data directory.
const MasterKeyFile = "master.key"

// LoadMasterKey returns the 32-byte master key. If encoded is not empty it is
// the key itself (base64, std or url alphabet, as in LATCHKEY_MASTER_KEY).
// Otherwise the key is read from dir/master.key, which is created with mode
// 0600 on first use. created reports whether a new key file was written.
func LoadMasterKey(encoded, dir string) (key []byte, created bool, err error) {
	if encoded != "" {
		key, err := decodeKey(encoded)
		if err != nil {
			return nil, false, fmt.Errorf("master key: %w", err)
		}
		return key, false, nil
	}
	path := filepath.Join(dir, MasterKeyFile)
	data, err := os.ReadFile(path) //nolint:gosec // G304: the operator's configured data directory
	if err == nil {
		key, err := decodeKey(string(data))
		if err != nil {
			return nil, false, fmt.Errorf("master key file %s: %w", path, err)
		}
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("read master key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create data dir: %w", err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // G304: the operator's configured data directory
	// Another process won the race: use its key.
	if errors.Is(err, fs.ErrExist) {
		return LoadMasterKey("", dir)
	}
	if err != nil {
		return nil, false, fmt.Errorf("create master key: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	// A failed close can lose the write: report it, the key is not saved.
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, fmt.Errorf("write master key: %w", err)
	}
	return key, true, nil
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != 32 {
				return nil, fmt.Errorf("must decode to 32 bytes, got %d", len(k))
			}
			return k, nil
		}
	}
	return nil, errors.New("not valid base64")
}
