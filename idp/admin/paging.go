package admin

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

// Lists page by key (issue 18): a page is read after (or before) a cursor,
// the key of a row of the page next to it, never by offset, and no list
// is counted whole. The API pages forward (?after=&limit=, and "next" in
// the answer); the console both ways (?after= or ?before=).

const (
	// apiPageLimit is the default page of the API's lists.
	apiPageLimit = 100
	// consolePageLimit is a page of the console's lists.
	consolePageLimit = 50
)

// apiPage reads ?limit= and ?after= of an API list. A limit that is not a
// number from 1 to models.MaxListLimit, or an offset (offsets are gone:
// they skipped rows by reading them), is a 400.
func apiPage(c echo.Context) (models.PageQuery, error) {
	p := models.PageQuery{After: c.QueryParam("after"), Limit: apiPageLimit}
	if c.QueryParams().Has("offset") {
		return p, web.NewError(http.StatusBadRequest, "offset is not supported: page with after (the next cursor of the previous page).", nil)
	}
	if raw := c.QueryParam("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > models.MaxListLimit {
			return p, web.NewError(http.StatusBadRequest, "limit must be a number from 1 to "+strconv.Itoa(models.MaxListLimit)+".", err)
		}
		p.Limit = n
	}
	return p, nil
}

// apiNext is the "next" cursor of an API page: the key of its last row
// when more follow, else "" (omitted).
func apiNext(more bool, last func() string) string {
	if !more {
		return ""
	}
	return last()
}

// consolePage reads ?after= or ?before= of a console list.
func consolePage(c echo.Context) models.PageQuery {
	p := models.PageQuery{After: c.QueryParam("after"), Before: c.QueryParam("before"), Limit: consolePageLimit}
	if p.Before != "" {
		p.After = ""
	}
	return p
}

// pager holds the Previous and Next links of a console list.
type pager struct{ PrevURL, NextURL string }

// links builds the links of a page read with p (more: rows lie beyond it
// in the direction read) whose first and last rows have the keys first and
// last; v holds the list's other parameters (its search or filter).
func links(path string, v url.Values, p models.PageQuery, more bool, first, last string) pager {
	var out pager
	if first == "" { // an empty page: back to the start
		return out
	}
	link := func(k, cursor string) string {
		w := url.Values{}
		for name, vals := range v {
			if len(vals) > 0 && vals[0] != "" {
				w[name] = vals
			}
		}
		w.Set(k, cursor)
		return path + "?" + w.Encode()
	}
	backward := p.Before != ""
	if (backward && more) || (!backward && p.After != "") {
		out.PrevURL = link("before", first)
	}
	if (!backward && more) || backward {
		out.NextURL = link("after", last)
	}
	return out
}
