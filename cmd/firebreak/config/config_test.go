package config_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions/builtin"
	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/web"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/config/*.bad.yaml")

const testdata = "../../../testdata/config"

func catalogue(t *testing.T) config.Catalog {
	t.Helper()
	b, err := builtin.Registry(context.Background(), builtin.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return b.Registry
}

// TestBadConfigs loads every testdata/config/*.bad.yaml and compares every
// problem reported, at once and positioned, with its golden file
// (regenerate with go test -update). No secret value may appear.
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdata, "*.bad.yaml"))
	if err != nil || len(files) < 8 {
		t.Fatalf("found %d bad configs (%v)", len(files), err)
	}
	cat := catalogue(t)
	t.Setenv("FIREBREAK_TEST_UNSET_VARIABLE", "")
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, res, err := config.Load(path, cat)
			if err == nil {
				t.Fatalf("loaded without error: %+v", res)
			}
			var ps config.Problems
			if !errors.As(err, &ps) || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("error %v is not Problems", err)
			}
			got := strings.ReplaceAll(err.Error(), testdata+"/", "") + "\n"
			if strings.Contains(got, "do-not-print") {
				t.Errorf("an error shows a secret:\n%s", got)
			}
			for _, p := range ps {
				if p.Line == 0 || p.Column == 0 || p.File != path {
					t.Errorf("problem without its position: %+v", p)
				}
			}
			golden := path + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("problems differ from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestGoodConfig resolves a configuration that uses every section.
func TestGoodConfig(t *testing.T) {
	t.Setenv("FB_TEST_AM_TOKEN", "alertmanager-token-0123")
	t.Setenv("FB_TEST_SLACK_TOKEN", " xoxb-slack-token \n")
	t.Setenv("FB_TEST_SIGNING_SECRET", "signing-secret-0123")
	t.Setenv("FB_TEST_BOT_TOKEN", "bot-api-token-0123456789")
	cfg, res, err := config.Load(filepath.Join(testdata, "good.yaml"), catalogue(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:9095" || cfg.Workers != 4 || cfg.MaxConcurrentActions != 8 || res.MaxEventAge != 30*time.Minute || cfg.LogFormat != "json" {
		t.Errorf("top level = %+v", cfg)
	}
	if res.AuditKey == nil || cfg.Audit.CheckpointEvery != 500 || cfg.Audit.Witness.URL == "" {
		t.Errorf("audit anchoring: key loaded %v, every %d, witness %q", res.AuditKey != nil, cfg.Audit.CheckpointEvery, cfg.Audit.Witness.URL)
	}
	if !res.HoldPaused {
		t.Error("guards.on_pause: hold did not resolve to HoldPaused")
	}
	if res.SlackToken != "xoxb-slack-token" || res.SigningSecret != "signing-secret-0123" || res.BotToken != "" {
		t.Errorf("secrets: slack %q signing %q bot %q", res.SlackToken, res.SigningSecret, res.BotToken)
	}
	want := []web.APIToken{
		{Name: "oncall-bot", Role: web.RoleApprover, Secret: "bot-api-token-0123456789"},
		{Name: "dashboard", Role: web.RoleViewer, Secret: "viewer-token-from-a-file-0123"},
		{Name: "ops", Role: web.RoleOperator, Secret: "ops-token-0123456789"},
	}
	if len(res.Tokens) != len(want) {
		t.Fatalf("tokens = %d, want %d", len(res.Tokens), len(want))
	}
	for i := range want {
		if res.Tokens[i] != want[i] {
			t.Errorf("token %d = %+v, want %+v", i, res.Tokens[i].Name, want[i].Name)
		}
	}
	for _, key := range []string{"alertmanager", "grafana", "generic/myapp"} {
		if src, ok := res.Sources[key]; !ok || src.Auth == nil || src.Decoder == nil {
			t.Errorf("source %s = %+v", key, src)
		}
	}
	if _, ok := res.Sources["splunk"]; ok || len(res.Sources) != 3 {
		t.Errorf("sources = %v, want three (splunk disabled)", len(res.Sources))
	}
	if l := res.Sources["alertmanager"].Limiter; l == nil || l.Burst() != 100 {
		t.Errorf("alertmanager limiter = %v", l)
	}
	if res.MaxActions != (guard.Rate{Count: 30, Window: time.Minute}) || res.MaxTargets != (guard.Rate{Count: 10, Window: 10 * time.Minute}) {
		t.Errorf("caps = %+v %+v", res.MaxActions, res.MaxTargets)
	}
	if b := res.Bounds["kubernetes.scale"]["replicas"]; b.Min == nil || *b.Min != 1 || *b.Max != 20 {
		t.Errorf("bounds = %+v", res.Bounds)
	}
	if res.Redactor == nil || res.Redactor.String("order ACME-123456") == "order ACME-123456" {
		t.Error("the configured redaction pattern is not applied")
	}
	if res.DefaultSources {
		t.Error("configured sources reported as the defaults")
	}
	if d := cfg.Dashboard; !d.SecureCookies || d.SessionTTL.D() != 8*time.Hour {
		t.Errorf("dashboard = %+v", d)
	}
	if h := cfg.HTTP; len(h.TrustedProxies) != 2 || h.MaxConnections != 512 || h.MaxConnectionsPerIP != 32 {
		t.Errorf("http = %+v", h)
	}
	if o := cfg.Actions.HTTP; len(o.AllowCIDRs) != 1 || len(o.DenyCIDRs) != 1 {
		t.Errorf("actions.http = %+v", o)
	}
}

// TestSecretResolver pins the one resolver's rules.
func TestSecretResolver(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s")
	if err := os.WriteFile(file, []byte("  from-file \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FB_TEST_SECRET", " from-env ")
	t.Setenv("FB_TEST_EMPTY", "")
	for _, tc := range []struct {
		name    string
		s       config.Secret
		want    string
		wantErr string
	}{
		{"none", config.Secret{Key: "a.token"}, "", ""},
		{"literal", config.Secret{Key: "a.token", Literal: "lit"}, "lit", ""},
		{"env", config.Secret{Key: "a.token", Env: "FB_TEST_SECRET"}, "from-env", ""},
		{"file", config.Secret{Key: "a.token", FileKey: file}, "from-file", ""},
		{"two", config.Secret{Key: "a.token", Literal: "do-not-print", Env: "FB_TEST_SECRET"}, "", "a.token: set only one of token, token_env and token_file"},
		{"unset env", config.Secret{Key: "a.token", Env: "FB_TEST_UNSET_NEVER"}, "", "a.token_env: environment variable FB_TEST_UNSET_NEVER is not set"},
		{"empty env", config.Secret{Key: "a.token", Env: "FB_TEST_EMPTY"}, "", "a.token_env: environment variable FB_TEST_EMPTY is not set"},
		{"missing file", config.Secret{Key: "a.token", FileKey: filepath.Join(dir, "nope")}, "", "a.token_file: open "},
		{"empty file", config.Secret{Key: "a.token", FileKey: empty}, "", "a.token_file: " + empty + " is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := config.ResolveSecret(tc.s)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Fatalf("= %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to start with %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "do-not-print") || strings.Contains(err.Error(), "from-") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}

// TestValidateWithoutPositions: a Config built in Go is validated the same
// way; its problems carry key paths only.
func TestValidateWithoutPositions(t *testing.T) {
	cfg := config.Defaults()
	cfg.API.Tokens = []config.APIToken{{Name: "ci", Role: "admin", Token: "do-not-print-0123456789"}}
	cfg.Guards.MaxActions = "many/1m"
	_, err := config.Validate(cfg, nil)
	want := "guards.max_actions: "
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `api.tokens[0].role: "admin" must be viewer, approver or operator`) {
		t.Fatalf("Validate = %v", err)
	}
	if strings.Contains(err.Error(), "do-not-print") {
		t.Errorf("the error shows a secret: %v", err)
	}
}
