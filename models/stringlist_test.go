package models

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzStringList holds StringList's direct reading and writing to
// encoding/json's results: the bytes written, and the list (or the
// failure) read back from any input.
func FuzzStringList(f *testing.F) {
	for _, seed := range []string{`[]`, `["openid","profile"]`, `["a,b"]`, `["x\"y"]`, `["<a>"]`, `["é"]`, `[ "a" ]`,
		`["a",]`, `["a""b"]`, `null`, `{}`, `["\u0041"]`, `[""]`, `["a"`, `"a"`, `[1]`, "[\"a\tb\"]"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		// Reading: the same list, or a failure where encoding/json fails.
		var got StringList
		gotErr := got.Scan([]byte(in))
		var want []string
		var wantErr error
		if in != "" { // an empty column reads as no list, as it always has
			wantErr = json.Unmarshal([]byte(in), &want)
		}
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("Scan(%q): err %v, encoding/json err %v", in, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual([]string(got), want) {
			t.Fatalf("Scan(%q) = %#v, encoding/json %#v", in, got, want)
		}
		// Writing: the bytes encoding/json writes, for lists cut from in.
		list := StringList(strings.Split(in, "|"))
		v, err := list.Value()
		if err != nil {
			t.Fatal(err)
		}
		wantB, err := json.Marshal([]string(list))
		if err != nil {
			t.Fatal(err)
		}
		if v.(string) != string(wantB) {
			t.Fatalf("Value(%q) = %s, encoding/json %s", list, v, wantB)
		}
		var back StringList
		if err := back.Scan(v); err != nil || (utf8.ValidString(in) && !reflect.DeepEqual(back, list)) {
			t.Fatalf("round trip of %q: %q, %v", list, back, err)
		}
	})
}

func TestStringListEmptyAndNil(t *testing.T) {
	v, _ := StringList(nil).Value()
	if v != "[]" {
		t.Fatalf("nil list = %v", v)
	}
	var l StringList
	if err := l.Scan("[]"); err != nil || l == nil || len(l) != 0 {
		t.Fatalf("[] scanned to %#v, %v (encoding/json gives an empty, non-nil list)", l, err)
	}
	if err := l.Scan(nil); err != nil || l != nil {
		t.Fatalf("NULL scanned to %#v, %v", l, err)
	}
}
