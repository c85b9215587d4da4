package models

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"fmt"
)

// StringList is a []string stored as a JSON array in a TEXT column.
//
// Scopes, audiences, AMR values and redirect URIs are plain ASCII, and a
// sign-in flow reads some thirty such lists; encoding/json's reflection
// took 2 % of the server's CPU for them. Lists whose strings are printable
// ASCII with nothing to escape are read and written directly; anything
// else goes through encoding/json. FuzzStringList holds both ways to the
// same result.
type StringList []string

// plainJSONString reports whether s needs no escaping in a JSON string,
// not even encoding/json's HTML escaping of <, > and &.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// Value implements driver.Valuer.
func (l StringList) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	n := 2
	for _, s := range l {
		if !plainJSONString(s) {
			b, err := json.Marshal([]string(l))
			return string(b), err
		}
		n += len(s) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, s...)
		b = append(b, '"')
	}
	return string(append(b, ']')), nil
}

// Scan implements sql.Scanner.
func (l *StringList) Scan(src any) error {
	b, err := textColumn("StringList", src)
	if err != nil || len(b) == 0 {
		*l = nil
		return err
	}
	if list, ok := parsePlainList(b); ok {
		*l = list
		return nil
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// parsePlainList parses the form Value writes — [] or ["a","b"] with no
// whitespace and strings that plainJSONString accepts; ok is false for
// anything else, which the caller leaves to encoding/json.
func parsePlainList(b []byte) (list []string, ok bool) {
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return nil, false
	}
	body := b[1 : len(b)-1]
	if len(body) == 0 {
		return []string{}, true
	}
	list = make([]string, 0, bytes.Count(body, []byte{','})+1)
	for {
		if len(body) < 2 || body[0] != '"' {
			return nil, false
		}
		end := bytes.IndexByte(body[1:], '"') + 1
		if end == 0 {
			return nil, false
		}
		s := string(body[1:end])
		if !plainJSONString(s) {
			return nil, false
		}
		list = append(list, s)
		body = body[end+1:]
		if len(body) == 0 {
			return list, true
		}
		if body[0] != ',' {
			return nil, false
		}
		body = body[1:]
	}
}

// Contains reports whether s is in the list.
func (l StringList) Contains(s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// JSONMap is a map stored as a JSON object in a TEXT column.
type JSONMap map[string]any

// Value implements driver.Valuer.
func (m JSONMap) Value() (driver.Value, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(map[string]any(m))
	return string(b), err
}

// Scan implements sql.Scanner.
func (m *JSONMap) Scan(src any) error {
	b, err := textColumn("JSONMap", src)
	if err != nil || len(b) == 0 {
		*m = nil
		return err
	}
	return json.Unmarshal(b, (*map[string]any)(m))
}

// textColumn returns the bytes of a TEXT column's value as the driver
// hands it over (string on Postgres, []byte or string on SQLite); NULL is
// empty.
func textColumn(typ string, src any) ([]byte, error) {
	switch v := src.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(v), nil
	case []byte:
		return v, nil
	}
	return nil, fmt.Errorf("%s: cannot scan %T", typ, src)
}
