package webhook_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/webhook"
	"github.com/firebreak/firebreak/engine/event"
)

func TestURLFromEnvOrFile(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	secretURL := srv.URL + "/services/T1/B1/SECRETPATH"
	file := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(file, []byte(secretURL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOOK_URL": secretURL, "NOT_A_URL": "ftp://x"}
	a := webhook.New(webhook.Config{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	ev := &event.Event{ID: "e", Name: "X", Status: "firing"}
	for _, params := range []map[string]any{{"url_env": "HOOK_URL"}, {"url_file": file}} {
		res, err := run(t, a, params)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(res.Summary, "SECRETPATH") {
			t.Fatalf("summary %q shows the secret path", res.Summary)
		}
		if tg := a.Target(params); tg.Name != strings.TrimPrefix(srv.URL, "http://") {
			t.Fatalf("target %+v", tg)
		}
		dry, err := a.Run(context.Background(), actions.Request{Params: params, Event: ev, DryRun: true})
		if err != nil || strings.Contains(dry.Summary, "SECRETPATH") {
			t.Fatalf("dry run: %v %q", err, dry.Summary)
		}
	}
	if len(rec.reqs) != 2 || rec.reqs[1].URL.Path != "/services/T1/B1/SECRETPATH" {
		t.Fatalf("requests %d", len(rec.reqs))
	}
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{}, "with.url: is required"},
		{map[string]any{"url": srv.URL, "url_env": "HOOK_URL"}, "with.url_env: url, url_env, url_file are exclusive"},
		{map[string]any{"url_env": "MISSING"}, "with.url_env: environment variable MISSING is not set (or is empty)"},
		{map[string]any{"url_env": "NOT_A_URL"}, "with.url_env: does not hold an http or https URL"},
		{map[string]any{"url_file": file + ".nope"}, "with.url_file: open " + file + ".nope: no such file or directory"},
	} {
		err := a.Validate(tc.params, true)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%v) = %v, want %q", tc.params, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "ftp://") {
			t.Errorf("error %q shows the variable's value", err)
		}
	}
}

// templatedWritten says every parameter was rendered from a template.
type templatedWritten struct{}

func (templatedWritten) LiteralPrefix(string) (string, bool) { return "", true }

func TestSecretSourcesMustBeLiteral(t *testing.T) {
	a := webhook.New(webhook.Config{LookupEnv: func(string) (string, bool) { return "http://127.0.0.1:1/", true }})
	_, err := a.Run(context.Background(), actions.Request{Params: map[string]any{"url_env": "AWS_SECRET_ACCESS_KEY"}, Written: templatedWritten{}})
	if !errors.Is(err, actions.ErrPermanent) || !strings.Contains(err.Error(), "with.url_env: must be written literally") {
		t.Fatalf("templated url_env: %v", err)
	}
}
