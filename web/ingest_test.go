package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/web"
	"github.com/firebreak/firebreak/web/auth"
	"github.com/firebreak/firebreak/web/sources"
)

// ingestServer is a real server on 127.0.0.1 in front of a real store.
type ingestServer struct {
	url string
	db  *store.DB
}

func newIngestServer(t *testing.T, srcs map[string]web.Source) *ingestServer {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "firebreak.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := web.New(web.Config{Inbox: db, Engine: nopEngine{}, Sources: srcs})
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &ingestServer{url: hs.URL, db: db}
}

// post sends body as JSON and returns the status and the decoded answer.
func (s *ingestServer) post(t *testing.T, path string, body []byte) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(s.url+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST %s: answer is not JSON: %v", path, err)
	}
	return resp.StatusCode, out
}

// events returns every stored event.
func (s *ingestServer) events(t *testing.T) []event.Event {
	t.Helper()
	ctx := context.Background()
	seqs, err := s.db.Pending(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Event
	for _, seq := range seqs {
		ev, err := s.db.Event(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("sources", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// documentedRoutes lists the distinct `POST /hooks/…` forms the docs
// document (the sources' table and the API's endpoint table), with
// <placeholders> and {placeholders} normalised to <x>.
func documentedRoutes(t *testing.T) []string {
	t.Helper()
	var b []byte
	for _, name := range []string{"sources.md", "api.md"} {
		raw, err := os.ReadFile(filepath.Join("..", "docs", name))
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, raw...)
	}
	re := regexp.MustCompile("`POST (/hooks/[^`\\s]*)`")
	ph := regexp.MustCompile(`<[^>]*>|\{[^}]*\}`)
	seen := map[string]bool{}
	var out []string
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		r := ph.ReplaceAllString(m[1], "<x>")
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		t.Fatal("docs/sources.md and docs/api.md document no POST /hooks/ route")
	}
	return out
}

const splunkToken = "s3cr3t-path-token"

// TestEveryDocumentedRoute posts a real payload to every /hooks/ route the
// docs document and checks it lands in the store under the right
// source. The generic route used to answer 404: the router looked the
// source up by its first segment while generic sources are stored as
// generic/NAME.
func TestEveryDocumentedRoute(t *testing.T) {
	gen, err := sources.NewGeneric("myscanner", sources.GenericConfig{
		ID:   "body.id",
		Name: "body.title",
	})
	if err != nil {
		t.Fatal(err)
	}
	splunkAuth, err := auth.New(auth.Config{Type: auth.TypeURLToken, Token: splunkToken})
	if err != nil {
		t.Fatal(err)
	}
	srcs := map[string]web.Source{"generic/myscanner": {Decoder: gen}}
	for name, dec := range sources.Builtin() {
		srcs[name] = web.Source{Decoder: dec}
	}
	srcs["splunk"] = web.Source{Decoder: sources.Splunk{}, Auth: splunkAuth}
	srv := newIngestServer(t, srcs)

	cases := []struct {
		route, path, fixture string
		body                 []byte
		source               string
	}{
		{route: "/hooks/alertmanager", fixture: "alertmanager-firing-group.json", source: "alertmanager"},
		{route: "/hooks/grafana", fixture: "grafana-webhook.json", source: "grafana"},
		{route: "/hooks/falco", fixture: "falco-falcosidekick-webhook.json", source: "falco"},
		{route: "/hooks/wazuh", fixture: "wazuh-alert.json", source: "wazuh"},
		{route: "/hooks/elastic", fixture: "elastic-kibana-webhook.json", source: "elastic"},
		{route: "/hooks/splunk/<x>", path: "/hooks/splunk/" + splunkToken, fixture: "splunk-webhook.json", source: "splunk"},
		{route: "/hooks/graylog", fixture: "graylog-http-notification.json", source: "graylog"},
		{route: "/hooks/azure", fixture: "azure-monitor-common-alert.json", source: "azure"},
		{route: "/hooks/generic/<x>", path: "/hooks/generic/myscanner", body: []byte(`{"id":"f-1","title":"open port"}`), source: "myscanner"},
		// The generic forms of the API reference: any source, and a token in
		// the path.
		{route: "/hooks/<x>", path: "/hooks/falco", fixture: "falco-minimal.json", source: "falco"},
		{route: "/hooks/<x>/<x>", path: "/hooks/splunk/" + splunkToken, fixture: "splunk-minimal.json", source: "splunk"},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.route] = true
		path := tc.path
		if path == "" {
			path = tc.route
		}
		t.Run(strings.TrimPrefix(tc.route, "/hooks/"), func(t *testing.T) {
			body := tc.body
			if body == nil {
				body = fixture(t, tc.fixture)
			}
			before := len(srv.events(t))
			code, out := srv.post(t, path, body)
			if code != http.StatusAccepted {
				t.Fatalf("POST %s = %d %v, want 202", path, code, out)
			}
			if n, _ := out["accepted"].(float64); n < 1 {
				t.Fatalf("POST %s accepted %v events, want at least 1", path, out["accepted"])
			}
			evs := srv.events(t)
			if len(evs) <= before {
				t.Fatalf("POST %s stored nothing", path)
			}
			for _, ev := range evs[before:] {
				if ev.Source != tc.source {
					t.Errorf("POST %s stored an event of source %q, want %q", path, ev.Source, tc.source)
				}
			}
		})
	}
	for _, r := range documentedRoutes(t) {
		if !covered[r] {
			t.Errorf("the docs document POST %s but no case here posts to it", r)
		}
	}
}

// TestUnknownGenericSource answers 404 with a JSON error naming the source.
func TestUnknownGenericSource(t *testing.T) {
	srv := newIngestServer(t, map[string]web.Source{})
	code, out := srv.post(t, "/hooks/generic/nosuch", []byte(`{}`))
	if code != http.StatusNotFound {
		t.Fatalf("status %d, want 404", code)
	}
	if msg, _ := out["error"].(string); !strings.Contains(msg, `"generic/nosuch"`) {
		t.Fatalf("error %q does not name generic/nosuch", msg)
	}
}

// TestSplunkURLToken checks both documented forms of Splunk's token through
// a real server. The path form used to answer 401: the authenticator read
// r.PathValue, which gin never sets.
func TestSplunkURLToken(t *testing.T) {
	a, err := auth.New(auth.Config{Type: auth.TypeURLToken, Token: splunkToken})
	if err != nil {
		t.Fatal(err)
	}
	srv := newIngestServer(t, map[string]web.Source{"splunk": {Decoder: sources.Splunk{}, Auth: a}})
	body := fixture(t, "splunk-webhook.json")
	for _, tc := range []struct {
		name, path string
		want       int
	}{
		{"path token", "/hooks/splunk/" + splunkToken, http.StatusAccepted},
		{"query token", "/hooks/splunk?token=" + splunkToken, http.StatusAccepted},
		{"wrong path token", "/hooks/splunk/" + splunkToken + "x", http.StatusUnauthorized},
		{"wrong query token", "/hooks/splunk?token=nope", http.StatusUnauthorized},
		{"no token", "/hooks/splunk", http.StatusUnauthorized},
		// A wrong token in the path is not rescued by a right one in the
		// query: the path form is the one configured.
		{"wrong path, right query", "/hooks/splunk/nope?token=" + splunkToken, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := srv.post(t, tc.path, body)
			if code != tc.want {
				t.Fatalf("POST %s = %d %v, want %d", tc.path, code, out, tc.want)
			}
			if code == http.StatusUnauthorized {
				msg, _ := out["error"].(string)
				if !strings.HasPrefix(msg, "unauthorized") {
					t.Fatalf("401 body %v does not say unauthorized", out)
				}
				if strings.Contains(msg, splunkToken) {
					t.Fatalf("401 body %q reveals the token", msg)
				}
			}
		})
	}
}

// TestInvalidUTF8IDsAreNotDuplicates posts two Falco events whose uuids
// differ only in invalid UTF-8 bytes: both are stored; a redelivery of the
// first is a duplicate.
func TestInvalidUTF8IDsAreNotDuplicates(t *testing.T) {
	srv := newIngestServer(t, map[string]web.Source{"falco": {Decoder: sources.Falco{}}})
	body := func(uuid string) []byte {
		return []byte(`{"uuid":"` + uuid + `","output":"o","priority":"Warning","rule":"r","time":"2025-03-14T08:41:17Z"}`)
	}
	for i, tc := range []struct {
		uuid               string
		accepted, duplicat float64
	}{{"u8\xfe", 1, 0}, {"u8\xfd", 1, 0}, {"u8\xfe", 0, 1}} {
		code, out := srv.post(t, "/hooks/falco", body(tc.uuid))
		if code != http.StatusAccepted || out["accepted"] != tc.accepted || out["duplicates"] != tc.duplicat {
			t.Fatalf("post %d (%q): %d %v, want accepted %v duplicates %v", i, tc.uuid, code, out, tc.accepted, tc.duplicat)
		}
	}
	if n := len(srv.events(t)); n != 2 {
		t.Fatalf("%d events stored, want 2", n)
	}
}
