package idp

import (
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestRouteTableIsWhatEchoServes checks that both echo routers serve
// exactly the routes of routeTable, each with the table's handler: nothing
// registered elsewhere, nothing in the table missing.
func TestRouteTableIsWhatEchoServes(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.Pprof = true; c.OIDC.Registration = "token" }) // every optional route
	// The methods echo's Any registers, read from echo itself.
	scratch := echo.New()
	scratch.Any("/", func(echo.Context) error { return nil })
	var anyMethods []string
	for _, r := range scratch.Routes() {
		anyMethods = append(anyMethods, r.Method)
	}
	want := map[listener][]string{}
	for _, r := range app.srv.routeTable() {
		if r.method == anyMethod {
			for _, m := range anyMethods {
				want[r.on] = append(want[r.on], m+" "+r.path+" "+funcName(r.handler))
			}
			continue
		}
		want[r.on] = append(want[r.on], r.method+" "+r.path+" "+funcName(r.handler))
	}
	for on, e := range map[listener]*echo.Echo{public: app.srv.public, internal: app.srv.internal} {
		var got []string
		for _, r := range e.Routes() {
			got = append(got, r.Method+" "+r.Path+" "+r.Name) // echo names a route by its handler
		}
		slices.Sort(got)
		w := slices.Clone(want[on])
		slices.Sort(w)
		if dup := slices.Compact(slices.Clone(w)); len(dup) != len(w) {
			t.Errorf("%s listener: the table lists a route twice", on)
		}
		for _, g := range got {
			if _, found := slices.BinarySearch(w, g); !found {
				t.Errorf("%s listener serves %s, which is not in routes.go", on, g)
			}
		}
		for _, x := range w {
			if _, found := slices.BinarySearch(got, x); !found {
				t.Errorf("%s listener does not serve %s from routes.go", on, x)
			}
		}
	}
	if len(want[public]) == 0 || len(want[internal]) == 0 {
		t.Fatal("empty route table")
	}
}

// funcName names a handler as echo does (Route.Name).
func funcName(h echo.HandlerFunc) string {
	return runtime.FuncForPC(reflect.ValueOf(h).Pointer()).Name()
}
