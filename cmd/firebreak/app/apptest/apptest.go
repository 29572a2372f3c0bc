package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
)

// Config returns a configuration for a test server: 127.0.0.1:0, a temp
// data directory, and the given playbook YAML written to a temp directory.
func Config(t testing.TB, playbookYAML string) app.Config {
	t.Helper()
	cfg := app.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	if playbookYAML != "" {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "playbooks.yaml"), []byte(playbookYAML), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Playbooks = []string{dir}
	}
	return cfg
}

// OperatorToken is the operator token WithOperator configures.
const OperatorToken = "apptest-operator-token-0123456789"

// WithOperator adds an operator token (OperatorToken, named "apptest") to
// cfg: operator endpoints refuse every caller when no token is configured.
// Once a token exists, reads need one too.
func WithOperator(cfg *app.Config) {
	cfg.API.Tokens = append(cfg.API.Tokens, app.APIToken{Name: "apptest", Role: "operator", Token: OperatorToken})
}

// Start starts the server and closes it when the test ends.
func Start(t testing.TB, cfg app.Config, opts app.Options) *app.App {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.Start(context.Background(), cfg, log, opts)
	if err != nil {
		t.Fatalf("start firebreak: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// Post sends body as JSON and returns the status and the response body.
func Post(t testing.TB, url string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// PostAs is Post with a bearer token (none when token is empty).
func PostAs(t testing.TB, url, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Request is one request a Sink received.
type Request struct {
	Header http.Header
	Body   map[string]any
}

// Sink is an HTTP server that records JSON requests.
type Sink struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []Request
	// Status is the answer code (default 200).
	Status int
}

// NewSink starts a sink closed at the end of the test.
func NewSink(t testing.TB) *Sink {
	s := &Sink{Status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		s.mu.Lock()
		s.reqs = append(s.reqs, Request{Header: r.Header.Clone(), Body: body})
		code := s.Status
		s.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s
}

// Requests returns a copy of what the sink received.
func (s *Sink) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// WaitFor polls cond until it holds or the deadline passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Alert is one alert for AlertmanagerPayload.
type Alert struct {
	Status      string
	Labels      map[string]string
	Annotations map[string]string
	StartsAt    time.Time
	Fingerprint string
}

// AlertmanagerPayload builds a version 4 webhook body.
func AlertmanagerPayload(status string, alerts ...Alert) []byte {
	type amAlert struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	}
	out := struct {
		Version  string    `json:"version"`
		GroupKey string    `json:"groupKey"`
		Status   string    `json:"status"`
		Receiver string    `json:"receiver"`
		Alerts   []amAlert `json:"alerts"`
	}{Version: "4", GroupKey: "{}:{}", Status: status, Receiver: "firebreak"}
	for _, a := range alerts {
		st := a.Status
		if st == "" {
			st = status
		}
		out.Alerts = append(out.Alerts, amAlert{Status: st, Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt,
			GeneratorURL: "http://prometheus.example/graph", Fingerprint: a.Fingerprint})
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic(fmt.Sprintf("apptest: %v", err))
	}
	return b
}
