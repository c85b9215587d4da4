package passkeys

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/metadata"
	"github.com/go-webauthn/webauthn/metadata/providers/memory"
	"github.com/go-webauthn/x/revoke"
	"github.com/google/uuid"

	"github.com/latchkey-idp/latchkey/models"
)

// FIDO Metadata Service (MDS3) blobs are imported offline: this deployment
// cannot reach mds.fidoalliance.org, so an operator downloads the blob
// elsewhere and runs `latchkey mds import FILE`. The JWT's x5c chain is
// verified against the FIDO root (GlobalSign Root R46, embedded by
// go-webauthn as metadata.ProductionMDSRoot) or a root given for tests;
// the verified raw blob is stored and every instance loads the newest one.

// MDSInfo describes an imported metadata blob.
type MDSInfo struct {
	Serial     int64     `json:"serial"`
	NextUpdate time.Time `json:"next_update"`
	ImportedAt time.Time `json:"imported_at"`
	Entries    int64     `json:"entries"`
	// Skipped counts entries that go-webauthn could not parse (ignored).
	Skipped int `json:"skipped,omitempty"`
	// Stale: the blob's nextUpdate date has passed; download a new one.
	Stale bool `json:"stale"`
}

// ErrMDSOlder means the blob's serial is lower than the one in use (a rollback).
var ErrMDSOlder = errors.New("passkeys: metadata blob is older than the one in use")

// ErrMDSSame means the blob's serial is already imported.
var ErrMDSSame = errors.New("passkeys: metadata blob already imported")

var offlineRevocation sync.Once

// SetRevocationClient sets the HTTP client go-webauthn fetches the CRLs
// and OCSP answers of the metadata chain with (revoke.HTTPClient, a
// package variable of go-webauthn/x). The caller gives one that refuses
// non-public addresses at dial time (cmd/latchkey: internal/outbound), so
// a CRL distribution point in a certificate cannot make us request our
// own network. Call it before ImportMDS; without it ImportMDS uses a plain
// client with a 5 s timeout.
func SetRevocationClient(c *http.Client) {
	offlineRevocation.Do(func() {})
	revoke.HTTPClient = c
}

// RevocationClient returns the client SetRevocationClient set (tests).
func RevocationClient() *http.Client { return revoke.HTTPClient }

// ImportMDS verifies an MDS3 blob (the JWT as downloaded) against root, a
// PEM or base64 DER certificate ("" is the FIDO production root), parses
// it and stores it. Errors: ErrMDSOlder, ErrMDSSame, or a verification or
// parse error.
func ImportMDS(ctx context.Context, db *models.DB, blob []byte, root string) (*MDSInfo, error) {
	// go-webauthn checks the chain's CRLs and OCSP with the default HTTP
	// client, which has no timeout; offline, fail soft and fast instead.
	offlineRevocation.Do(func() { revoke.HTTPClient = &http.Client{Timeout: 5 * time.Second} })
	rootB64, err := rootCertificate(root)
	if err != nil {
		return nil, err
	}
	blob = bytes.TrimSpace(blob)
	dec, err := metadata.NewDecoder(metadata.WithRootCertificate(rootB64), metadata.WithIgnoreEntryParsingErrors())
	if err != nil {
		return nil, err
	}
	payload, err := dec.DecodeBytes(blob)
	if err != nil {
		return nil, fmt.Errorf("verify metadata blob: %w", err)
	}
	md, err := dec.Parse(payload)
	if err != nil {
		return nil, fmt.Errorf("parse metadata blob: %w", err)
	}
	serial := int64(md.Parsed.Number)
	if cur, err := db.LatestMetadataSerial(ctx); err == nil {
		switch {
		case serial < cur:
			return nil, fmt.Errorf("%w: serial %d, in use %d", ErrMDSOlder, serial, cur)
		case serial == cur:
			return nil, fmt.Errorf("%w: serial %d", ErrMDSSame, serial)
		}
	} else if !errors.Is(err, models.ErrNotFound) {
		return nil, err
	}
	row := &models.MetadataBlob{Serial: serial, NextUpdate: md.Parsed.NextUpdate, Entries: int64(len(md.Parsed.Entries)),
		LegalHeader: md.Parsed.LegalHeader, Blob: blob}
	if err := db.StoreMetadataBlob(ctx, row); err != nil {
		if errors.Is(err, models.ErrConflict) {
			return nil, fmt.Errorf("%w: serial %d", ErrMDSSame, serial)
		}
		return nil, err
	}
	info := mdsInfo(row, db.Now())
	info.Skipped = len(md.Unparsed)
	return info, nil
}

// MDSStatus describes the metadata blob in use, or returns nil when none
// was imported.
func MDSStatus(ctx context.Context, db *models.DB) (*MDSInfo, error) {
	b, err := db.LatestMetadataBlob(ctx, false)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return mdsInfo(b, db.Now()), nil
}

// MetadataStatus is MDSStatus for the service's database (for the console).
func (s *Service) MetadataStatus(ctx context.Context) (*MDSInfo, error) { return MDSStatus(ctx, s.db) }

func mdsInfo(b *models.MetadataBlob, now time.Time) *MDSInfo {
	return &MDSInfo{Serial: b.Serial, NextUpdate: b.NextUpdate, ImportedAt: b.ImportedAt, Entries: b.Entries,
		Stale: now.After(b.NextUpdate.Add(24 * time.Hour))}
}

// rootCertificate turns a PEM or base64 DER certificate into the base64
// DER string go-webauthn's decoder wants.
func rootCertificate(root string) (string, error) {
	root = strings.TrimSpace(root)
	if root == "" {
		return metadata.ProductionMDSRoot, nil
	}
	if blk, _ := pem.Decode([]byte(root)); blk != nil {
		if blk.Type != "CERTIFICATE" {
			return "", fmt.Errorf("metadata root: PEM block %q, want CERTIFICATE", blk.Type)
		}
		return base64.StdEncoding.EncodeToString(blk.Bytes), nil
	}
	if _, err := base64.StdEncoding.DecodeString(root); err != nil {
		return "", errors.New("metadata root: neither PEM nor base64 DER")
	}
	return root, nil
}

// loadedMDS is a parsed blob and the go-webauthn provider built from it.
type loadedMDS struct {
	serial   int64
	byAAGUID map[uuid.UUID]*metadata.Entry
	provider metadata.Provider
}

// mdsCache keeps the parsed newest blob; it reloads when another instance
// or the CLI stored a newer one.
type mdsCache struct {
	mu     sync.Mutex
	loaded *loadedMDS
}

// metadata returns the newest imported metadata, or nil when none was
// imported. The blob's signature was verified at import; the database is
// trusted like the credentials it holds.
func (s *Service) metadata(ctx context.Context) (*loadedMDS, error) {
	serial, err := s.db.LatestMetadataSerial(ctx)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	s.mds.mu.Lock()
	defer s.mds.mu.Unlock()
	if s.mds.loaded != nil && s.mds.loaded.serial == serial {
		return s.mds.loaded, nil
	}
	b, err := s.db.LatestMetadataBlob(ctx, true)
	if err != nil {
		return nil, err
	}
	l, err := parseStoredBlob(b)
	if err != nil {
		return nil, err
	}
	s.mds.loaded = l
	return l, nil
}

// parseStoredBlob decodes the JWT payload of a verified blob without
// checking the signature again.
func parseStoredBlob(b *models.MetadataBlob) (*loadedMDS, error) {
	parts := strings.Split(string(b.Blob), ".")
	if len(parts) != 3 {
		return nil, errors.New("stored metadata blob is not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("stored metadata blob: %w", err)
	}
	var payload metadata.PayloadJSON
	if err := json.Unmarshal(raw, &payload); err != nil {
		return nil, fmt.Errorf("stored metadata blob: %w", err)
	}
	dec, err := metadata.NewDecoder(metadata.WithIgnoreEntryParsingErrors())
	if err != nil {
		return nil, err
	}
	md, err := dec.Parse(&payload)
	if err != nil {
		return nil, fmt.Errorf("stored metadata blob: %w", err)
	}
	byAAGUID := md.ToMap()
	p, err := memory.New(
		memory.WithMetadata(byAAGUID),
		memory.WithMetadataKeyIdentifiers(md.ToKeyIdentifierMap()),
		memory.WithValidateEntry(true),
		memory.WithValidateEntryPermitZeroAAGUID(false),
		memory.WithValidateEntryKeyIdentifier(true),
		memory.WithValidateTrustAnchor(true),
		memory.WithValidateAttestationTypes(true),
		memory.WithValidateAAGUID(true),
		memory.WithValidateStatus(true),
		memory.WithStatusUndesired(undesiredStatuses),
	)
	if err != nil {
		return nil, err
	}
	return &loadedMDS{serial: b.Serial, byAAGUID: byAAGUID, provider: p}, nil
}

// undesiredStatuses are the metadata statuses that make Latchkey refuse an
// authenticator: revoked, and every kind of compromise (a user
// verification bypass included, since user verification carries the whole
// sign-in). RETIRED and UPDATE_AVAILABLE are not refusals.
var undesiredStatuses = []metadata.AuthenticatorStatus{
	metadata.Revoked, metadata.AttestationKeyCompromise, metadata.UserKeyRemoteCompromise,
	metadata.UserKeyPhysicalCompromise, metadata.UserVerificationBypass,
}

// entry returns the metadata entry of an AAGUID, or nil.
func (l *loadedMDS) entry(aaguid []byte) *metadata.Entry {
	if l == nil || len(aaguid) != 16 {
		return nil
	}
	id, err := uuid.FromBytes(aaguid)
	if err != nil || id == uuid.Nil {
		return nil
	}
	return l.byAAGUID[id]
}

// revoked reports whether the AAGUID's current status reports include an
// undesired status.
func (l *loadedMDS) revoked(aaguid []byte) bool {
	e := l.entry(aaguid)
	return e != nil && metadata.ValidateStatusReports(e.StatusReports, nil, undesiredStatuses) != nil
}

// description is the metadata's name of the authenticator model, or "".
func (l *loadedMDS) description(aaguid []byte) string {
	if e := l.entry(aaguid); e != nil {
		return e.MetadataStatement.Description
	}
	return ""
}
