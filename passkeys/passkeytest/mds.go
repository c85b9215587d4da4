package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"time"
)

// FIDO is a test FIDO PKI: an MDS root that signs metadata blobs (through
// a signing certificate, as the real service does) and an authenticator
// vendor's attestation root that issues packed attestation certificates.
// Certificates are valid from a day ago for ten years (go-webauthn checks
// them against the wall clock).
type FIDO struct {
	mdsRoot     *x509.Certificate
	mdsRootKey  *ecdsa.PrivateKey
	signer      *x509.Certificate
	signerKey   *ecdsa.PrivateKey
	attRoot     *x509.Certificate
	attRootKey  *ecdsa.PrivateKey
	serialCount int64
}

// MDSEntry is one authenticator model in a blob.
type MDSEntry struct {
	AAGUID      [16]byte
	Description string
	// Status is the current status report (default "FIDO_CERTIFIED_L1"),
	// e.g. "REVOKED" or "USER_KEY_REMOTE_COMPROMISE".
	Status string
	// OtherRoot lists another vendor's root instead of the FIDO
	// attestation root, so attestation certificates do not chain.
	OtherRoot bool
}

// NewFIDO creates the test PKI.
func NewFIDO() (*FIDO, error) {
	f := &FIDO{}
	var err error
	if f.mdsRoot, f.mdsRootKey, err = f.cert("Latchkey Test MDS Root", nil, nil, true, nil); err != nil {
		return nil, err
	}
	if f.signer, f.signerKey, err = f.cert("Latchkey Test MDS Signer", f.mdsRoot, f.mdsRootKey, false, nil); err != nil {
		return nil, err
	}
	if f.attRoot, f.attRootKey, err = f.cert("Latchkey Test Attestation Root", nil, nil, true, nil); err != nil {
		return nil, err
	}
	return f, nil
}

// MDSRootPEM is the root to verify blobs with (latchkey mds import --mds-root).
func (f *FIDO) MDSRootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.mdsRoot.Raw})
}

// AttestationCert issues a packed attestation certificate for aaguid
// (WebAuthn L3 §8.2.1 subject and extension) and returns its key and the
// chain for Authenticator.AttestationChain (leaf only; the root is in the
// metadata).
func (f *FIDO) AttestationCert(aaguid [16]byte) (*ecdsa.PrivateKey, [][]byte, error) {
	ext, err := asn1.Marshal(aaguid[:])
	if err != nil {
		return nil, nil, err
	}
	leaf, key, err := f.cert("Latchkey Test Key", f.attRoot, f.attRootKey, false, []pkix.Extension{
		{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 45724, 1, 1, 4}, Value: ext}, // id-fido-gen-ce-aaguid
	})
	if err != nil {
		return nil, nil, err
	}
	return key, [][]byte{leaf.Raw}, nil
}

// Equip gives a the packed attestation of a test key with a's AAGUID.
func (f *FIDO) Equip(a *Authenticator) error {
	key, chain, err := f.AttestationCert(a.AAGUID)
	if err != nil {
		return err
	}
	a.Attestation, a.AttestationKey, a.AttestationChain = "packed", key, chain
	return nil
}

// Blob returns a signed MDS3 blob (a JWT with an x5c chain, ES256) with
// serial number serial and the given entries.
func (f *FIDO) Blob(serial int, entries ...MDSEntry) ([]byte, error) {
	var list []map[string]any
	for _, e := range entries {
		status := e.Status
		if status == "" {
			status = "FIDO_CERTIFIED_L1"
		}
		root := f.attRoot.Raw
		if e.OtherRoot {
			other, _, err := f.cert("Some Other Vendor Root", nil, nil, true, nil)
			if err != nil {
				return nil, err
			}
			root = other.Raw
		}
		id := formatUUID(e.AAGUID)
		list = append(list, map[string]any{
			"aaguid": id,
			"metadataStatement": map[string]any{
				"description": e.Description, "aaguid": id, "protocolFamily": "fido2", "schema": 3,
				"authenticatorVersion": 1, "upv": []map[string]int{{"major": 1, "minor": 1}},
				"authenticationAlgorithms":    []string{"secp256r1_ecdsa_sha256_raw"},
				"publicKeyAlgAndEncodings":    []string{"cose"},
				"attestationTypes":            []string{"basic_full"},
				"keyProtection":               []string{"hardware", "secure_element"},
				"attachmentHint":              []string{"external"},
				"attestationRootCertificates": []string{base64.StdEncoding.EncodeToString(root)},
			},
			"statusReports":          []map[string]string{{"status": "FIDO_CERTIFIED_L1", "effectiveDate": "2024-01-01"}, {"status": status, "effectiveDate": "2025-06-01"}},
			"timeOfLastStatusChange": "2025-06-01",
		})
	}
	payload, err := json.Marshal(map[string]any{
		"legalHeader": "Latchkey test metadata, not for production", "no": serial,
		"nextUpdate": time.Now().AddDate(0, 1, 0).Format(time.DateOnly), "entries": list,
	})
	if err != nil {
		return nil, err
	}
	header, _ := json.Marshal(map[string]any{"alg": "ES256", "typ": "JWT", "x5c": []string{
		base64.StdEncoding.EncodeToString(f.signer.Raw), base64.StdEncoding.EncodeToString(f.mdsRoot.Raw)}})
	signing := enc(header) + "." + enc(payload)
	digest := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, f.signerKey, digest[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return []byte(signing + "." + enc(sig)), nil
}

// cert issues a P-256 certificate signed by parent (self-signed if nil).
func (f *FIDO) cert(cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, ca bool, exts []pkix.Extension) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	f.serialCount++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(f.serialCount),
		Subject: pkix.Name{Country: []string{"US"}, Organization: []string{"Latchkey Test Vendor"},
			OrganizationalUnit: []string{"Authenticator Attestation"}, CommonName: cn},
		NotBefore:             time.Now().Add(-24 * time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		BasicConstraintsValid: true,
		IsCA:                  ca,
		ExtraExtensions:       exts,
	}
	if ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func formatUUID(b [16]byte) string {
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
