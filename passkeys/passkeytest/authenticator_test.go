package passkeytest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func TestAuthenticatorShape(t *testing.T) {
	a := New("localhost", "http://localhost:8080")
	if _, err := a.Get([]byte(`{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAA"}}`)); err == nil {
		t.Fatal("Get without a credential succeeded")
	}
	body, err := a.Create([]byte(`{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAA","rp":{"id":"localhost"},"user":{"id":"dXNlcg"},"pubKeyCredParams":[{"type":"public-key","alg":-7}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ID, RawID, Type string
		Response        map[string]any
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(m.RawID)
	if m.ID != m.RawID || !bytes.Equal(raw, a.CredentialID()) || m.Type != "public-key" || m.Response["attestationObject"] == nil {
		t.Errorf("create body %s", body)
	}
	if string(a.UserHandle) != "user" {
		t.Errorf("user handle %q", a.UserHandle)
	}
	other := base64.RawURLEncoding.EncodeToString([]byte("other"))
	_, err = a.Get([]byte(`{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAA","allowCredentials":[{"type":"public-key","id":"` + other + `"}]}}`))
	if err == nil || !strings.Contains(err.Error(), "NotAllowedError") {
		t.Errorf("Get with foreign allowCredentials: %v", err)
	}
	a.SetSignCount(41)
	if _, err := a.Get([]byte(`{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAA","rpId":"localhost"}}`)); err != nil || a.SignCount() != 42 {
		t.Errorf("Get: %v, sign count %d", err, a.SignCount())
	}
}
