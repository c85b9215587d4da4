package oidc

import "bytes"

// topLevelString finds the member key of the JSON object obj whose value
// is a string without escapes, and returns the bounds of that value
// (between its quotes). ok is false when obj is not an object, has no such
// member at its top level, has it more than once, its value is not a
// string of printable ASCII without escapes (plainJSON), or any top-level
// name has an escape. obj must be valid JSON: signDeferred uses it on what op
// has just written with encoding/json, and takes the general path (a full
// decode) whenever ok is false. It replaces a decode and re-encode that
// cost ~90 µs per token response (TestTopLevelString and
// FuzzTopLevelString hold it to encoding/json).
func topLevelString(obj []byte, key string) (start, end int, ok bool) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return 0, 0, false
	}
	depth := 0
	expectKey := false // at depth 1, the next string is a member name
	found := false
	for ; i < len(obj); i++ {
		switch c := obj[i]; c {
		case '{', '[':
			depth++
			expectKey = depth == 1 && c == '{'
		case '}', ']':
			depth--
		case ',':
			expectKey = depth == 1
		case '"':
			j := stringEnd(obj, i)
			if j < 0 {
				return 0, 0, false
			}
			if expectKey {
				expectKey = false
				if bytes.IndexByte(obj[i+1:j], '\\') >= 0 {
					return 0, 0, false // an escaped name might spell key
				}
				if string(obj[i+1:j]) == key {
					v := skipSpace(obj, skipSpace(obj, j+1)+1) // past the ':'
					if v >= len(obj) || obj[v] != '"' {
						return 0, 0, false
					}
					e := stringEnd(obj, v)
					if e < 0 || found || !plainJSON(string(obj[v+1:e])) {
						return 0, 0, false
					}
					found, start, end = true, v+1, e
				}
			}
			i = j
		}
	}
	return start, end, found
}

// stringEnd returns the index of the quote closing the JSON string that
// opens at obj[i], or -1.
func stringEnd(obj []byte, i int) int {
	for j := i + 1; j < len(obj); j++ {
		switch obj[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}

func skipSpace(obj []byte, i int) int {
	for i < len(obj) && (obj[i] == ' ' || obj[i] == '\t' || obj[i] == '\n' || obj[i] == '\r') {
		i++
	}
	return i
}

// replaceTopLevelString returns obj with the plain string value of its
// top-level member key replaced by val, which must need no escaping (a
// compact JWS or a base64url hash does not).
func replaceTopLevelString(obj []byte, key, val string) ([]byte, bool) {
	start, end, ok := topLevelString(obj, key)
	if !ok || !plainJSON(val) {
		return nil, false
	}
	out := make([]byte, 0, len(obj)-(end-start)+len(val))
	out = append(out, obj[:start]...)
	out = append(out, val...)
	return append(out, obj[end:]...), true
}

// plainJSON reports whether s can stand in a JSON string as it is, with
// nothing encoding/json would escape.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
