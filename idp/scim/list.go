package scim

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/scim2/filter-parser/v2"

	"github.com/latchkey-idp/latchkey/models"
)

// A SCIM list pages by position (startIndex, RFC 7644 §3.4.2.4), while our
// lists page by key on an index (models/paging.go). The two meet here:
//
//   - a client that pages in order (startIndex 1, 101, 201, …, as Entra ID
//     and Okta do) continues after the last key of its previous page,
//     remembered in a small cache (cursorCache), so each page is a walk of
//     the index from a key, as in the console;
//   - any other position (another instance, an expired entry, a jump)
//     skips rows of the index, at most models.MaxSCIMOffset of them, and a
//     larger startIndex is refused (400 tooMany);
//   - totalResults is counted up to models.SCIMCountCap matches; beyond,
//     it is a lower bound that stays ahead of the page while full pages
//     follow, so a client stops at the first short page.

// filterAttrs maps SCIM attribute paths (lowercase) to the filterable
// attributes of models.Filter.
var (
	userFilterAttrs = map[string]string{
		"username": "username", "emails": "email", "emails.value": "email", "displayname": "display_name",
		"externalid": "external_id", "id": "id", "active": "active",
	}
	groupFilterAttrs = map[string]string{"displayname": "display_name", "externalid": "external_id", "id": "id"}
)

// toFilter translates a parsed SCIM filter into a models.Filter on attrs;
// an attribute outside attrs is an invalidFilter error (RFC 7644 §3.4.2.2:
// "the specified attribute and filter comparison combination is not
// supported").
func toFilter(e filter.Expression, attrs map[string]string, prefix string) (*models.Filter, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		l, err := toFilter(e.Left, attrs, prefix)
		if err != nil {
			return nil, err
		}
		r, err := toFilter(e.Right, attrs, prefix)
		if err != nil {
			return nil, err
		}
		return &models.Filter{Op: strings.ToLower(string(e.Operator)), Sub: []models.Filter{*l, *r}}, nil
	case *filter.NotExpression:
		s, err := toFilter(e.Expression, attrs, prefix)
		if err != nil {
			return nil, err
		}
		return &models.Filter{Op: "not", Sub: []models.Filter{*s}}, nil
	case *filter.ValuePath: // emails[value eq "…"]
		return toFilter(e.ValueFilter, attrs, strings.ToLower(e.AttributePath.AttributeName)+".")
	case *filter.AttributeExpression:
		p := e.AttributePath
		name := prefix + strings.ToLower(p.AttributeName)
		if p.SubAttribute != nil {
			name += "." + strings.ToLower(*p.SubAttribute)
		}
		attr, ok := attrs[name]
		if !ok {
			return nil, badRequest(scimerrors.ScimTypeInvalidFilter, "Latchkey cannot filter on "+strconv.Quote(p.String())+".")
		}
		return &models.Filter{Op: strings.ToLower(string(e.Operator)), Attr: attr, Value: e.CompareValue}, nil
	}
	return nil, scimerrors.ScimErrorInvalidFilter
}

// listQuery builds the models query of a list request of resource (for
// the cursor cache) with its filter on attrs.
func (q *request) listQuery(r *http.Request, p scim.ListRequestParams, resource string, attrs map[string]string) (models.SCIMQuery, string, error) {
	mq := models.SCIMQuery{Offset: p.StartIndex - 1, Count: p.Count}
	if p.FilterValidator != nil {
		f, err := toFilter(p.FilterValidator.GetFilter(), attrs, "")
		if err != nil {
			return mq, "", err
		}
		mq.Filter = f
	}
	key := q.token.ID + "\x00" + resource + "\x00" + r.URL.Query().Get("filter") + "\x00"
	if mq.Offset > 0 {
		if after, ok := q.h.cursors.get(key + strconv.Itoa(mq.Offset)); ok {
			mq.After, mq.Offset = after, 0
		} else if mq.Offset > models.MaxSCIMOffset {
			return mq, "", scimerrors.ScimError{Status: http.StatusBadRequest, ScimType: scimerrors.ScimTypeTooMany,
				Detail: "startIndex may be at most " + strconv.Itoa(models.MaxSCIMOffset+1) + " unless the pages before it were read in order."}
		}
	}
	return mq, key, nil
}

// total is the list's totalResults (see above).
func total(offset, n, count, counted int, exact bool) int {
	if exact {
		return counted
	}
	t := max(counted, offset+n)
	if n == count {
		t = max(t, offset+n+1)
	}
	return t
}

// listError maps a list's models error: an invalid filter value is an
// invalidFilter error.
func (q *request) listError(err error) error {
	if errors.Is(err, models.ErrFilter) {
		return badRequest(scimerrors.ScimTypeInvalidFilter, message(err))
	}
	return q.scimError(err, "list")
}

// cursorCache remembers, for a client's list (token, resource, filter)
// and a position, the sort key of the row before it: where the next page
// in order starts.
type cursorCache struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]cursorEntry
}

type cursorEntry struct {
	key     string
	expires time.Time
}

const (
	cursorTTL = 15 * time.Minute
	cursorMax = 4096
)

func newCursorCache(now func() time.Time) *cursorCache {
	if now == nil {
		now = time.Now
	}
	return &cursorCache{now: now, m: map[string]cursorEntry{}}
}

func (c *cursorCache) get(k string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || c.now().After(e.expires) {
		return "", false
	}
	return e.key, true
}

// put remembers the position pos of a list, making room by dropping
// expired entries, then arbitrary ones, when full.
func (c *cursorCache) put(k string, pos int, sortKey string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.m) >= cursorMax {
		for key, e := range c.m {
			if now.After(e.expires) || len(c.m) >= cursorMax {
				delete(c.m, key)
			}
		}
	}
	c.m[k+strconv.Itoa(pos)] = cursorEntry{key: sortKey, expires: now.Add(cursorTTL)}
}
