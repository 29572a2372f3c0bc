package app_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
)

var routeParam = regexp.MustCompile(`:[^/]+|\*[^/]+|\{[^}]*\}`)

// normalRoute writes every path parameter ({id}, :id, *id) as {}.
func normalRoute(method, path string) string {
	return method + " " + routeParam.ReplaceAllString(path, "{}")
}

// routeMatches reports whether the normalised route serves the documented
// path: literally, or with a parameter of the route standing for a
// segment the doc spells out (/hooks/{}/{} serves /hooks/generic/{}).
func routeMatches(route, doc string) bool {
	rs, ds := strings.Split(route, "/"), strings.Split(doc, "/")
	if len(rs) != len(ds) {
		return false
	}
	for i := range rs {
		if rs[i] != ds[i] && !strings.HasSuffix(rs[i], "{}") {
			return false
		}
	}
	return true
}

// documentedEndpoints returns the endpoints of docs/api.md's table: each
// row's first column holds one or more `METHOD /path` spans joined by " · ",
// a query part in brackets ignored.
func documentedEndpoints(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i := strings.Index(doc, "\n| method and path |")
	if i < 0 {
		t.Fatal("docs/api.md has no endpoint table headed | method and path |")
	}
	span := regexp.MustCompile("^`(GET|POST|PUT|PATCH|DELETE) (/[^`\\[ ]*)(\\[[^`]*\\])?`$")
	var out []string
	for _, line := range strings.Split(doc[i+1:], "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		first := strings.TrimSpace(strings.Split(line, "|")[1])
		for _, s := range strings.Split(first, " · ") {
			m := span.FindStringSubmatch(s)
			if m == nil {
				t.Fatalf("docs/api.md: %q in row %q is not a `METHOD /path` span", s, line)
			}
			out = append(out, normalRoute(m[1], m[2]))
		}
	}
	return out
}

// TestDocsEndpointTable keeps docs/api.md's endpoint table equal to the
// router of a server with every part wired: every route has an entry, and
// every entry is served by a route.
func TestDocsEndpointTable(t *testing.T) {
	a := apptest.Start(t, apptest.Config(t, ""), app.Options{})
	var routes []string
	for _, r := range a.Web.Routes() {
		routes = append(routes, normalRoute(r.Method, r.Path))
	}
	if len(routes) < 30 {
		t.Fatalf("the router serves only %d routes: %v", len(routes), routes)
	}
	documented := documentedEndpoints(t)
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is served but docs/api.md's endpoint table has no entry for it", r)
		}
	}
	for _, d := range documented {
		if !slices.ContainsFunc(routes, func(r string) bool { return routeMatches(r, d) }) {
			t.Errorf("docs/api.md documents %s, which no route serves", d)
		}
	}
}
