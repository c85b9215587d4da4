package passkeys

import (
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
)

// aaguidsJSON is the community list of passkey provider AAGUIDs
// (passkeydeveloper/passkey-authenticator-aaguids, aaguid.json): AAGUID →
// name and optional icon_light / icon_dark SVG data URIs. It names
// passkeys on account and admin pages only; an AAGUID is self-reported by
// the authenticator and is not a security signal. The upstream list may be
// emptied one day, so an empty object "{}" must work.
//
//go:embed aaguids.json
var aaguidsJSON []byte

type provider struct {
	Name      string `json:"name"`
	IconLight string `json:"icon_light"`
	IconDark  string `json:"icon_dark"`
}

// hardwareKeys names common security keys, which the community list does
// not cover. MAINTAINED BY US, from the AAGUIDs their makers publish
// (Yubico, Feitian, SoloKeys). Entries of the community list win.
var hardwareKeys = map[string]string{
	"cb69481e-8ff7-4039-93ec-0a2729a154a8": "YubiKey 5 Series",
	"ee882879-721c-4913-9775-3dfcce97072a": "YubiKey 5 Series",
	"fa2b99dc-9e39-4257-8f92-4a30d23c4118": "YubiKey 5 Series with NFC",
	"2fc0579f-8113-47ea-b116-bb5a8db9202a": "YubiKey 5 Series with NFC",
	"c5ef55ff-ad9a-4b9f-b580-adebafe026d0": "YubiKey 5Ci",
	"73bb0cd4-e502-49b8-9c6f-b59445bf720b": "YubiKey 5 FIPS Series",
	"d8522d9f-575b-4866-88a9-ba99fa02f35b": "YubiKey Bio Series",
	"f8a011f3-8c0a-4d15-8006-17111f9edc7d": "Security Key by Yubico",
	"149a2021-8ef6-4133-96b8-81f8d5b7f1f5": "Security Key by Yubico with NFC",
	"6d44ba9b-f6ec-2e49-b930-0c8fe920cb73": "Security Key by Yubico with NFC",
	"833b721a-ff5f-4d00-bb2e-bdda3ec01e29": "Feitian ePass FIDO2",
	"ee041bce-25e5-4cdb-8f86-897fd6418464": "Feitian ePass FIDO2-NFC",
	"77010bd7-212a-4fc9-b236-d2ca5e9d4084": "Feitian BioPass FIDO2",
	"8876631b-d4a0-427f-5773-0ec71c9e0279": "SoloKeys Solo",
	"8976631b-d4a0-427f-5773-0ec71c9e0279": "SoloKeys Solo Tap",
}

var providers = sync.OnceValue(func() map[string]provider {
	return parseProviders(aaguidsJSON)
})

// parseProviders decodes the AAGUID list; a broken or empty list yields an
// empty map (names are cosmetic, never a reason to fail).
func parseProviders(data []byte) map[string]provider {
	m := map[string]provider{}
	if err := json.Unmarshal(data, &m); err != nil {
		return map[string]provider{}
	}
	out := make(map[string]provider, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// FormatAAGUID returns the AAGUID in the usual 8-4-4-4-12 lowercase hex
// form, or "" if it is not 16 bytes.
func FormatAAGUID(aaguid []byte) string {
	if len(aaguid) != 16 {
		return ""
	}
	h := hex.EncodeToString(aaguid)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// lookupKey returns the formatted AAGUID, or "" when it cannot name a
// provider (wrong length or all zeros, which "none" attestation and many
// security keys report).
func lookupKey(aaguid []byte) string {
	zero := true
	for _, b := range aaguid {
		if b != 0 {
			zero = false
			break
		}
	}
	if zero {
		return ""
	}
	return FormatAAGUID(aaguid)
}

// ProviderName returns the name of the passkey provider or security key
// model of an AAGUID, or "" if it is unknown or all zeros.
func ProviderName(aaguid []byte) string {
	key := lookupKey(aaguid)
	if key == "" {
		return ""
	}
	if p, ok := providers()[key]; ok && p.Name != "" {
		return p.Name
	}
	return hardwareKeys[key]
}

// ProviderIcon returns the provider's icon as a data: URI for a light or
// dark background, or "". Only data:image/ URIs are returned, so the value
// is safe in an img src under a strict CSP (img-src data:).
func ProviderIcon(aaguid []byte, dark bool) string {
	key := lookupKey(aaguid)
	if key == "" {
		return ""
	}
	p, ok := providers()[key]
	if !ok {
		return ""
	}
	icon := p.IconLight
	if dark && p.IconDark != "" {
		icon = p.IconDark
	}
	if icon == "" {
		icon = p.IconDark
	}
	if !strings.HasPrefix(icon, "data:image/") {
		return ""
	}
	return icon
}
