package models

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
type Sealer struct {
	aead        cipher.AEAD
	fingerprint string // MasterKeyFingerprint of the key
}

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
	return &Sealer{aead: aead, fingerprint: MasterKeyFingerprint(key)}, nil
}

// Fingerprint is MasterKeyFingerprint of the Sealer's key.
func (s *Sealer) Fingerprint() string { return s.fingerprint }

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

// MasterKeyFile is the name of a master key file: in the user's
// configuration directory by default (cmd/latchkey), and in the data
// directory of installations made before the key moved out of it.
const MasterKeyFile = "master.key"

// MasterKeyFingerprint names key without revealing it: the SHA-256 of an
// HMAC of a fixed label under the key, so neither the key nor anything
// that opens a sealed value can be computed from it. The database stores
// it to recognise the right key (MasterKeyCheck).
func MasterKeyFingerprint(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("latchkey master key fingerprint v1"))
	d := sha256.Sum256(m.Sum(nil))
	return hex.EncodeToString(d[:16])
}

// DecodeMasterKey parses a base64 master key (std or url alphabet, padded
// or not, surrounding space ignored), as in LATCHKEY_MASTER_KEY and key
// files.
func DecodeMasterKey(encoded string) ([]byte, error) { return decodeKey(encoded) }

// EncodeMasterKey is the text of a key file: standard base64 and a newline.
func EncodeMasterKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) + "\n" }

// NewMasterKey returns 32 random bytes.
func NewMasterKey() []byte {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return key
}

// ReadMasterKeyFile reads the key file at path; a missing file is an
// error that wraps fs.ErrNotExist.
func ReadMasterKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path) //nolint:gosec // G304: the operator's configured key file
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	key, err := decodeKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return key, nil
}

// LoadOrCreateMasterKeyFile returns the key in the file at path, first
// creating the file with a new random key when there is none. created
// reports whether this call wrote it. Processes that start together all
// get the one key that was written first (WriteMasterKeyFile).
func LoadOrCreateMasterKeyFile(path string) (key []byte, created bool, err error) {
	key, err = ReadMasterKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key = NewMasterKey()
	err = WriteMasterKeyFile(path, key)
	if errors.Is(err, fs.ErrExist) {
		// Another process won the race; its file is complete (linked only
		// after it was written and synced).
		key, err = ReadMasterKeyFile(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// WriteMasterKeyFile stores key at path with mode 0600 and never replaces
// a file that is there: it fails with an error wrapping fs.ErrExist. The
// key is written to a temporary file in the same directory, synced, and
// then hard-linked to path, so that path appears complete or not at all.
// (Creating path with O_EXCL and then writing let a concurrent reader see
// an empty or half-written key; rename(2) would replace an existing key.)
func WriteMasterKeyFile(path string, key []byte) (err error) {
	if len(key) != 32 {
		return fmt.Errorf("master key must be 32 bytes, got %d", len(key))
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil { //nolint:gosec // G703: the operator's configured key file
		return fmt.Errorf("create master key directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".master.key.tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() //nolint:gosec // G703: our temporary file; the link, if made, keeps the key
	_, err = tmp.WriteString(EncodeMasterKey(key))
	if err == nil {
		err = tmp.Sync()
	}
	// A failed close can lose the write: report it, the key is not saved.
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("write master key %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a new directory entry durable (fsync of the directory).
func syncDir(dir string) error {
	d, err := os.Open(dir) //nolint:gosec // G304: a directory we just wrote in
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
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
