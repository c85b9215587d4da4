package passkeys

import (
	"strings"
	"testing"
)

func mustAAGUID(t *testing.T, s string) []byte {
	t.Helper()
	var b []byte
	for _, part := range strings.Split(s, "-") {
		for i := 0; i < len(part); i += 2 {
			var v byte
			for _, c := range part[i : i+2] {
				v <<= 4
				switch {
				case c >= '0' && c <= '9':
					v |= byte(c - '0')
				case c >= 'a' && c <= 'f':
					v |= byte(c-'a') + 10
				default:
					t.Fatalf("bad hex in %q", s)
				}
			}
			b = append(b, v)
		}
	}
	if FormatAAGUID(b) != s {
		t.Fatalf("FormatAAGUID round trip: %q != %q", FormatAAGUID(b), s)
	}
	return b
}

func TestProviderName(t *testing.T) {
	for _, tc := range []struct {
		name, aaguid, want string
	}{
		{"Apple Passwords (iCloud Keychain)", "fbfc3007-154e-4ecc-8c0b-6e020557d7bd", "Apple Passwords"},
		{"iCloud Keychain managed", "dd4ec289-e01d-41c9-bb89-70fa845d4bf2", "iCloud Keychain (Managed)"},
		{"Google Password Manager", "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4", "Google Password Manager"},
		{"YubiKey from our hardware list", "cb69481e-8ff7-4039-93ec-0a2729a154a8", "YubiKey 5 Series"},
		{"unknown", "01020304-0506-0708-090a-0b0c0d0e0f10", ""},
		{"all zero", "00000000-0000-0000-0000-000000000000", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ProviderName(mustAAGUID(t, tc.aaguid)); got != tc.want {
				t.Errorf("ProviderName(%s) = %q, want %q", tc.aaguid, got, tc.want)
			}
		})
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}} {
		if got := ProviderName(bad); got != "" {
			t.Errorf("ProviderName(%x) = %q", bad, got)
		}
	}
}

func TestProviderIcon(t *testing.T) {
	google := mustAAGUID(t, "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4")
	light, dark := ProviderIcon(google, false), ProviderIcon(google, true)
	if !strings.HasPrefix(light, "data:image/") || !strings.HasPrefix(dark, "data:image/") {
		t.Errorf("icons: %.40q %.40q", light, dark)
	}
	if ProviderIcon(mustAAGUID(t, "cb69481e-8ff7-4039-93ec-0a2729a154a8"), false) != "" {
		t.Error("icon for a key without one")
	}
	if ProviderIcon(make([]byte, 16), true) != "" {
		t.Error("icon for zero AAGUID")
	}
}

func TestParseProviders(t *testing.T) {
	if m := parseProviders([]byte(`{}`)); len(m) != 0 {
		t.Errorf("empty list: %v", m)
	}
	if m := parseProviders([]byte(`not json`)); len(m) != 0 {
		t.Errorf("broken list: %v", m)
	}
	m := parseProviders([]byte(`{"ABCDEF00-0000-0000-0000-000000000001":{"name":"X","icon_light":"javascript:alert(1)"}}`))
	if m["abcdef00-0000-0000-0000-000000000001"].Name != "X" {
		t.Errorf("keys not lowercased: %v", m)
	}
	if n := len(providers()); n < 50 {
		t.Errorf("embedded list has %d entries", n)
	}
	if FormatAAGUID(make([]byte, 15)) != "" {
		t.Error("FormatAAGUID accepted 15 bytes")
	}
}
