package oidc

import (
	"encoding/json"
	"testing"
)

func TestTopLevelString(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`{"access_token":"a.b.","token_type":"Bearer"}`, "a.b.", true},
		{` { "x" : [1,{"access_token":"no"}], "access_token" : "yes" } `, "yes", true},
		{`{"x":{"access_token":"nested"}}`, "", false},
		{`{"state":"\"access_token\":\"evil","access_token":"real"}`, "real", true},
		{`{"access_token":"a","access_token":"b"}`, "", false},
		{`{"acc\u0065ss_token":"x","access_token":"y"}`, "", false},
		{`{"access_token":"a\"b"}`, "", false},
		{`{"access_token":5}`, "", false},
		{`{"access_token":null}`, "", false},
		{`["access_token","x"]`, "", false},
		{`{"a":"access_token","b":"x"}`, "", false},
		{`{"access_token":""}`, "", true},
	} {
		start, end, ok := topLevelString([]byte(tc.in), "access_token")
		if ok != tc.ok || (ok && tc.in[start:end] != tc.want) {
			t.Errorf("%s: %v %q, want %v %q", tc.in, ok, tc.in[start:end], tc.ok, tc.want)
		}
	}
	out, ok := replaceTopLevelString([]byte(`{"a":1,"id_token":"x.y.","s":"t"}`), "id_token", "x.y.sig")
	if !ok || string(out) != `{"a":1,"id_token":"x.y.sig","s":"t"}` {
		t.Fatalf("replace: %s %v", out, ok)
	}
	if _, ok := replaceTopLevelString([]byte(`{"id_token":"x"}`), "id_token", `a"b`); ok {
		t.Fatal("replaced with a value that needs escaping")
	}
}

// FuzzTopLevelString: whenever topLevelString answers, encoding/json
// reads the same value for the member.
func FuzzTopLevelString(f *testing.F) {
	for _, s := range []string{`{"id_token":"a.b.c","x":[{"id_token":"n"}]}`, `{"id_token":"a","id_token":"b"}`, `{"at_hash":"abc"}`,
		`{"x":"\\","id_token":"q"}`, `{"id\u005ftoken":"z","id_token":"y"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !json.Valid([]byte(in)) {
			return // its input is what encoding/json wrote
		}
		for _, key := range []string{"id_token", "at_hash"} {
			start, end, ok := topLevelString([]byte(in), key)
			if !ok {
				continue
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal([]byte(in), &m); err != nil {
				t.Fatalf("%s: answered for a non-object: %v", in, err)
			}
			var v string
			if err := json.Unmarshal(m[key], &v); err != nil || v != in[start:end] {
				t.Fatalf("%s: %q, encoding/json %q (%v)", in, in[start:end], v, err)
			}
		}
	})
}
