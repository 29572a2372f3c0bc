package webhook_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/webhook"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/web/auth"
)

type recorder struct {
	mu    sync.Mutex
	reqs  []*http.Request
	body  [][]byte
	codes []int
	extra http.Header
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	n := len(r.reqs)
	r.reqs = append(r.reqs, req.Clone(context.Background()))
	r.body = append(r.body, b)
	code := http.StatusOK
	if n < len(r.codes) {
		code = r.codes[n]
	}
	for k, v := range r.extra {
		w.Header()[k] = v
	}
	r.mu.Unlock()
	w.WriteHeader(code)
	_, _ = w.Write([]byte("answer body"))
}

func run(t *testing.T, a *webhook.Action, params map[string]any) (actions.Result, error) {
	t.Helper()
	if err := a.Validate(params, true); err != nil {
		t.Fatalf("validate: %v", err)
	}
	ev := &event.Event{ID: "ev-1", Source: "alertmanager", Name: "X", Status: "firing"}
	return a.Run(context.Background(), actions.Request{Params: params, Event: ev, Playbook: "pb", Step: 0, Attempt: 1})
}

// TestSignatureVerifiesWithTheStandardWebhooksVerifier signs with the
// action and verifies with Firebreak's own receiver-side verifier, the one
// tested against the specification's test vector.
func TestSignatureVerifiesWithTheStandardWebhooksVerifier(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a-thirty-two-byte-signing-secret"))
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	now := time.Unix(1767225600, 0)
	a := webhook.New(webhook.Config{Now: func() time.Time { return now }, LookupEnv: func(k string) (string, bool) {
		return secret, k == "HOOK_SECRET"
	}})
	res, err := run(t, a, map[string]any{"url": srv.URL + "/in", "secret_env": "HOOK_SECRET", "body": map[string]any{"text": "hello"}})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res.After["status"] != 200 {
		t.Fatalf("result = %+v", res)
	}
	verifier, err := auth.New(auth.Config{Type: auth.TypeStandardWebhooks, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	req := rec.reqs[0]
	if err := verifier.Authenticate(req, rec.body[0], now.Add(time.Second)); err != nil {
		t.Fatalf("the receiver-side verifier refuses the action's signature: %v", err)
	}
	if string(rec.body[0]) != `{"text":"hello"}` || req.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("sent %q with %q", rec.body[0], req.Header.Get("Content-Type"))
	}
	// A tampered body no longer verifies.
	if err := verifier.Authenticate(req, []byte(`{"text":"bye"}`), now.Add(time.Second)); err == nil {
		t.Fatal("a tampered body verified")
	}
	if strings.Contains(res.Summary, secret) {
		t.Fatal("the secret leaked into the summary")
	}
}

func TestStatusClassification(t *testing.T) {
	cases := []struct {
		name          string
		code          int
		header        http.Header
		wantErr       bool
		permanent     bool
		wantRetryWait time.Duration
	}{
		{"2xx succeeds", 204, nil, false, false, 0},
		{"503 is retryable", 503, nil, true, false, 0},
		{"429 honours Retry-After seconds", 429, http.Header{"Retry-After": {"7"}}, true, false, 7 * time.Second},
		{"503 honours an HTTP date", 503, http.Header{"Retry-After": {"Thu, 01 Jan 2026 00:00:30 GMT"}}, true, false, 30 * time.Second},
		{"400 is permanent", 400, nil, true, true, 0},
		{"404 is permanent", 404, nil, true, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{codes: []int{tc.code}, extra: tc.header}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			a := webhook.New(webhook.Config{Now: func() time.Time { return now }})
			res, err := run(t, a, map[string]any{"url": srv.URL + "/x?token=SECRETQUERY"})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if errors.Is(err, actions.ErrPermanent) != tc.permanent {
					t.Fatalf("permanent = %v, want %v (%v)", errors.Is(err, actions.ErrPermanent), tc.permanent, err)
				}
				if strings.Contains(err.Error(), "SECRETQUERY") {
					t.Fatalf("the URL's query leaked into the error: %v", err)
				}
			}
			if res.RetryAfter != tc.wantRetryWait {
				t.Fatalf("RetryAfter = %v, want %v", res.RetryAfter, tc.wantRetryWait)
			}
		})
	}
}

func TestTransportErrorsAreRetryableAndTimeoutsHonoured(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	a := webhook.New(webhook.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := a.Run(ctx, actions.Request{Params: map[string]any{"url": srv.URL}, Event: &event.Event{ID: "e"}, Attempt: 1})
	if err == nil || errors.Is(err, actions.ErrPermanent) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a retryable deadline error", err)
	}
}

func TestValidateAndDryRun(t *testing.T) {
	a := webhook.New(webhook.Config{})
	for _, bad := range []map[string]any{
		{"url": "ftp://x"},
		{"url": "not a url"},
		{"url": "https://x", "headers": map[string]any{"X-N": 3}},
		{"url": "https://x", "nope": true},
		{},
	} {
		if err := a.Validate(bad, true); err == nil {
			t.Errorf("Validate(%v) accepted", bad)
		}
	}
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	res, err := a.Run(context.Background(), actions.Request{Params: map[string]any{"url": srv.URL + "/p"}, Event: &event.Event{ID: "e", Name: "N"}, DryRun: true})
	if err != nil || !strings.HasPrefix(res.Summary, "would POST") || len(rec.reqs) != 0 {
		t.Fatalf("dry run = %+v, %v, %d requests sent", res, err, len(rec.reqs))
	}
	if got := a.Target(map[string]any{"url": "https://hooks.example:8443/a?b"}); got.String() != "webhook/hooks.example:8443" {
		t.Fatalf("target = %q", got.String())
	}
}

// TestSecretRuleMatchesTheReceivers: a Standard Webhooks secret means the
// same to webhook.notify as to Firebreak's receivers: base64 with or
// without whsec_. An unprefixed secret used to be signed with as raw text
// while the receiver base64-decoded it, so nothing verified.
func TestSecretRuleMatchesTheReceivers(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte("another-thirty-two-byte-secret!!"))
	for _, secret := range []string{"whsec_" + b64, b64} {
		rec := &recorder{}
		srv := httptest.NewServer(rec)
		now := time.Unix(1767225600, 0)
		a := webhook.New(webhook.Config{Now: func() time.Time { return now }, LookupEnv: func(string) (string, bool) { return secret, true }})
		if _, err := run(t, a, map[string]any{"url": srv.URL, "secret_env": "S"}); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		verifier, err := auth.New(auth.Config{Type: auth.TypeStandardWebhooks, Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		if err := verifier.Authenticate(rec.reqs[0], rec.body[0], now); err != nil {
			t.Errorf("secret %q: the receiver refuses the action's signature: %v", secret[:8], err)
		}
	}
	a := webhook.New(webhook.Config{LookupEnv: func(string) (string, bool) { return "not base64!", true }})
	_, err := run(t, a, map[string]any{"url": "http://127.0.0.1:1/", "secret_env": "S"})
	if !errors.Is(err, actions.ErrPermanent) || !strings.Contains(err.Error(), "must be base64") || strings.Contains(err.Error(), "not base64!") {
		t.Fatalf("a secret that is not base64: %v", err)
	}
	if _, err := auth.New(auth.Config{Type: auth.TypeStandardWebhooks, Secret: "not base64!"}); err == nil {
		t.Fatal("the receiver accepts a secret that is not base64")
	}
}

// TestDryRunShowsTheBodyItWouldPost: the audit record of a dry run shows,
// after the default redactor, byte for byte the body a live run posts.
// The dry run's output used to be the encoded body as raw JSON, which the
// redactor decoded into generic values: an integer beyond float64's
// precision then read one off from what would have been sent.
func TestDryRunShowsTheBodyItWouldPost(t *testing.T) {
	a := webhook.New(webhook.Config{})
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	params := map[string]any{"url": srv.URL + "/p", "body": map[string]any{
		"alert": "KubePodCrashLooping", "count": int64(9007199254740993), "ratio": 0.25, "tags": []any{"a", "<b>"}, "nested": map[string]any{"ok": true},
	}}
	ev := &event.Event{ID: "e", Name: "N"}
	dry, err := a.Run(context.Background(), actions.Request{Params: params, Event: ev, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Run(context.Background(), actions.Request{Params: params, Event: ev}); err != nil {
		t.Fatal(err)
	}
	if len(rec.body) != 1 {
		t.Fatalf("%d requests posted, want 1", len(rec.body))
	}
	red, err := audit.NewRedactor(audit.RedactConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out := red.Record(audit.Record{Kind: audit.KindStepDryRun, Data: map[string]any{"output": dry.Output}})
	shown, err := json.Marshal(out.Data["output"].(map[string]any)["body"])
	if err != nil {
		t.Fatal(err)
	}
	if string(shown) != string(rec.body[0]) {
		t.Fatalf("the dry run's record shows the body\n%s\nthe live run posted\n%s", shown, rec.body[0])
	}
}
