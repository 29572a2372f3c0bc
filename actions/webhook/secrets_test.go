package webhook_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/actions/webhook"
)

// TestStepSecretsAreCheckedAtLoad: the loader validates a step's literal
// parameters with final false; an unset or empty url_env or secret_env and
// a missing or empty url_file are then already errors, at the parameter,
// with the message of the configuration's *_env and *_file keys (the one
// resolver, internal/secret), and none holds a value.
func TestStepSecretsAreCheckedAtLoad(t *testing.T) {
	dir := t.TempDir()
	good, empty := filepath.Join(dir, "url"), filepath.Join(dir, "empty")
	if err := os.WriteFile(good, []byte("https://hooks.example/SECRET-PATH\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOOK_URL": "https://hooks.example/SECRET-PATH", "HOOK_SECRET": "whsec_U0VDUkVULVZBTFVF", "BLANK": " "}
	a := webhook.New(webhook.Config{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	for _, tc := range []struct {
		name   string
		params map[string]any
		want   string // "" when the step loads
	}{
		{"url_env set", map[string]any{"url_env": "HOOK_URL"}, ""},
		{"url_file set", map[string]any{"url_file": good}, ""},
		{"secret_env set", map[string]any{"url": "https://h.example/", "secret_env": "HOOK_SECRET"}, ""},
		{"templated url, literal secret_env", map[string]any{"secret_env": "HOOK_SECRET"}, ""},
		{"url_env unset", map[string]any{"url_env": "FB_TEST_UNSET"}, "with.url_env: environment variable FB_TEST_UNSET is not set (or is empty)"},
		{"url_env blank", map[string]any{"url_env": "BLANK"}, "with.url_env: environment variable BLANK is not set (or is empty)"},
		{"url_file missing", map[string]any{"url_file": good + ".nope"}, "with.url_file: open " + good + ".nope: no such file or directory"},
		{"url_file empty", map[string]any{"url_file": empty}, "with.url_file: " + empty + " is empty"},
		{"secret_env unset", map[string]any{"url": "https://h.example/", "secret_env": "FB_TEST_UNSET"}, "with.secret_env: environment variable FB_TEST_UNSET is not set (or is empty)"},
		{"secret_env blank", map[string]any{"url_env": "HOOK_URL", "secret_env": "BLANK"}, "with.secret_env: environment variable BLANK is not set (or is empty)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.Validate(tc.params, false)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate(load) = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Validate(load) = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}

// TestStepSecretsAreReadAtEachRun: the load-time check does not freeze the
// value; a url_file rewritten after load (a rotated webhook URL) is used by
// the next run, and a file emptied since is a permanent error at url_file.
func TestStepSecretsAreReadAtEachRun(t *testing.T) {
	first, second := &recorder{}, &recorder{}
	srv1, srv2 := httptest.NewServer(first), httptest.NewServer(second)
	defer srv1.Close()
	defer srv2.Close()
	file := filepath.Join(t.TempDir(), "url")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(srv1.URL + "/one")
	a := webhook.New(webhook.Config{})
	params := map[string]any{"url_file": file}
	if err := a.Validate(params, false); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, a, params); err != nil {
		t.Fatal(err)
	}
	write(srv2.URL + "/two")
	if _, err := run(t, a, params); err != nil {
		t.Fatal(err)
	}
	if len(first.reqs) != 1 || len(second.reqs) != 1 || second.reqs[0].URL.Path != "/two" {
		t.Fatalf("requests: first %d, second %d; want one each, the second to the rotated URL", len(first.reqs), len(second.reqs))
	}
	write("")
	if err := a.Validate(params, true); err == nil || err.Error() != "with.url_file: "+file+" is empty" {
		t.Fatalf("Validate after emptying = %v", err)
	}
}
