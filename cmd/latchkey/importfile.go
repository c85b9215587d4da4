package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/latchkey-idp/latchkey/models"
)

// The fields of an import line: JSON Lines keys and CSV columns alike.
var importFields = []string{"username", "email", "email_verified", "name", "groups", "disabled"}

// csvGroupSeparator separates the groups of a CSV cell ("staff|ops").
// Group names cannot hold commas (models.NormalizeGroupName); a name
// holding "|" can be imported from JSON Lines only.
const csvGroupSeparator = "|"

// maxImportLine bounds one line of a JSON Lines file.
const maxImportLine = 1 << 20

// importReader yields the users of an import file one at a time; a bad
// line is a *models.LineError, the end io.EOF.
type importReader interface {
	next() (models.ImportUser, error)
}

func lineErr(line int, format string, args ...any) error {
	return &models.LineError{Line: line, Err: fmt.Errorf("%w: "+format, append([]any{models.ErrInvalid}, args...)...)}
}

var utf8BOM = []byte("\ufeff")

// jsonlReader reads JSON Lines: one object per line; blank lines are
// ignored.
type jsonlReader struct {
	sc   *bufio.Scanner
	line int
}

func newJSONLReader(r io.Reader) *jsonlReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxImportLine)
	return &jsonlReader{sc: sc}
}

func (r *jsonlReader) next() (models.ImportUser, error) {
	for r.sc.Scan() {
		r.line++
		b := r.sc.Bytes()
		if r.line == 1 {
			b = bytes.TrimPrefix(b, utf8BOM)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		return parseJSONLine(r.line, b)
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return models.ImportUser{}, lineErr(r.line+1, "line longer than %d bytes", maxImportLine)
		}
		return models.ImportUser{}, err
	}
	return models.ImportUser{}, io.EOF
}

func parseJSONLine(line int, b []byte) (models.ImportUser, error) {
	u := models.ImportUser{Line: line}
	if !utf8.Valid(b) {
		return u, lineErr(line, "not valid UTF-8")
	}
	if b = bytes.TrimSpace(b); b[0] != '{' {
		return u, lineErr(line, "not a JSON object")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return u, lineErr(line, "bad JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	var unknown []string
	for k := range obj {
		if !slices.Contains(importFields, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return u, unknownFields(line, "field", unknown)
	}
	for _, f := range importFields {
		raw, ok := obj[f]
		if !ok || string(raw) == "null" {
			continue
		}
		if err := setJSONField(&u, f, raw); err != nil {
			return u, lineErr(line, "%s", err)
		}
	}
	return u, nil
}

func unknownFields(line int, what string, names []string) error {
	sort.Strings(names)
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	if len(names) > 1 {
		what += "s"
	}
	return lineErr(line, "unknown %s %s (known: %s)", what, strings.Join(quoted, ", "), strings.Join(importFields, ", "))
}

// setJSONField sets field f of u from its JSON value.
func setJSONField(u *models.ImportUser, f string, raw json.RawMessage) error {
	var err error
	switch f {
	case "username":
		err = json.Unmarshal(raw, &u.Username)
	case "email":
		err = json.Unmarshal(raw, &u.Email)
		u.Fields |= models.ImportEmail
	case "name":
		err = json.Unmarshal(raw, &u.Name)
		u.Fields |= models.ImportName
	case "email_verified":
		err = json.Unmarshal(raw, &u.EmailVerified)
		u.Fields |= models.ImportEmailVerified
	case "disabled":
		err = json.Unmarshal(raw, &u.Disabled)
		u.Fields |= models.ImportDisabled
	case "groups":
		err = json.Unmarshal(raw, &u.Groups)
		u.Fields |= models.ImportGroups
	}
	if err == nil {
		return nil
	}
	want := map[string]string{"email_verified": "true or false", "disabled": "true or false", "groups": "an array of strings"}[f]
	if want == "" {
		want = "a string"
	}
	return fmt.Errorf("%s must be %s, not %s", f, want, raw)
}

// csvReader reads CSV with a header line naming the columns (any of
// importFields, username required).
type csvReader struct {
	r       *csv.Reader
	columns []string
}

func newCSVReader(r io.Reader) (*csvReader, error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 64<<10))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty: a CSV import starts with a header line naming the columns (" + strings.Join(importFields, ", ") + ")")
	}
	if err != nil {
		return nil, csvErr(err)
	}
	c := &csvReader{r: cr, columns: make([]string, len(header))}
	var unknown []string
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, string(utf8BOM))
		}
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case slices.Contains(c.columns[:i], h):
			return nil, lineErr(1, "column %q appears twice in the header", h)
		case !slices.Contains(importFields, h):
			unknown = append(unknown, h)
		}
		c.columns[i] = h
	}
	if len(unknown) > 0 {
		return nil, unknownFields(1, "column", unknown)
	}
	if !slices.Contains(c.columns, "username") {
		return nil, lineErr(1, "the header has no username column")
	}
	return c, nil
}

func csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return lineErr(pe.Line, "bad CSV: %s", pe.Err)
	}
	return err
}

func (c *csvReader) next() (models.ImportUser, error) {
	rec, err := c.r.Read()
	if err != nil {
		return models.ImportUser{}, csvErr(err)
	}
	line, _ := c.r.FieldPos(0)
	u := models.ImportUser{Line: line}
	for i, v := range rec {
		if !utf8.ValidString(v) {
			return u, lineErr(line, "%s is not valid UTF-8", c.columns[i])
		}
		if err := setCSVField(&u, c.columns[i], v); err != nil {
			return u, lineErr(line, "%s", err)
		}
	}
	return u, nil
}

func setCSVField(u *models.ImportUser, f, v string) error {
	var err error
	switch f {
	case "username":
		u.Username = v
	case "email":
		u.Email = v
		u.Fields |= models.ImportEmail
	case "name":
		u.Name = v
		u.Fields |= models.ImportName
	case "email_verified":
		u.EmailVerified, err = parseImportBool(f, v)
		u.Fields |= models.ImportEmailVerified
	case "disabled":
		u.Disabled, err = parseImportBool(f, v)
		u.Fields |= models.ImportDisabled
	case "groups":
		u.Groups = nil
		for _, g := range strings.Split(v, csvGroupSeparator) {
			if g = strings.TrimSpace(g); g != "" {
				u.Groups = append(u.Groups, g)
			}
		}
		u.Fields |= models.ImportGroups
	}
	return err
}

// parseImportBool reads a CSV boolean: true/false, 1/0, yes/no (any
// case), empty for false.
func parseImportBool(f, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no", "":
		return false, nil
	}
	return false, fmt.Errorf("%s must be true/false, 1/0 or yes/no, not %q", f, v)
}
