package config_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"github.com/firebreak/firebreak/web/auth"
)

// TestSourceAuthSecrets: the config loader is the one resolver of a source
// auth's secrets. Every spelling of every secret, the rotation lists'
// elements included, is read here and reaches the authenticator, which
// then accepts each value read and refuses others.
func TestSourceAuthSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("FB_TEST_SRC_TOKEN", " token-from-the-env\n")
	t.Setenv("FB_TEST_SRC_TOKEN2", "token-listed-by-env")
	t.Setenv("FB_TEST_SRC_USER", "am-user")
	t.Setenv("FB_TEST_SRC_PASS2", "pass-listed-by-env")
	cfg := config.Defaults()
	cfg.Sources = map[string]config.SourceConfig{
		"alertmanager": {Auth: &auth.Config{Type: auth.TypeBearer, TokenEnv: "FB_TEST_SRC_TOKEN",
			Tokens: []string{"token-listed-literal"}, TokensEnv: []string{"FB_TEST_SRC_TOKEN2"},
			TokensFile: []string{write("tok", " token-listed-by-file\n")}}},
		"falco": {Auth: &auth.Config{Type: auth.TypeBasic, UsernameEnv: "FB_TEST_SRC_USER",
			PasswordFile: write("pw", "pass-from-a-file\n"), PasswordsEnv: []string{"FB_TEST_SRC_PASS2"},
			PasswordsFile: []string{write("pw2", "pass-listed-by-file")}}},
		"splunk": {Auth: &auth.Config{Type: auth.TypeURLToken, TokenFile: write("url", "url-token-from-a-file")}},
	}
	res, err := config.Validate(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(source string, ok bool, prep func(r *http.Request)) {
		t.Helper()
		r := httptest.NewRequest("POST", "/hooks/"+source, nil)
		prep(r)
		err := res.Sources[source].Auth.Authenticate(r, nil, time.Now())
		if ok && err != nil {
			t.Errorf("%s: refused a resolved secret: %v", source, err)
		}
		if !ok && !errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("%s: a wrong secret = %v, want ErrBadCredentials", source, err)
		}
	}
	bearer := func(tok string) func(r *http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	for _, tok := range []string{"token-from-the-env", "token-listed-literal", "token-listed-by-env", "token-listed-by-file"} {
		check("alertmanager", true, bearer(tok))
	}
	check("alertmanager", false, bearer("FB_TEST_SRC_TOKEN"))
	for _, pw := range []string{"pass-from-a-file", "pass-listed-by-env", "pass-listed-by-file"} {
		check("falco", true, func(r *http.Request) { r.SetBasicAuth("am-user", pw) })
	}
	check("falco", false, func(r *http.Request) { r.SetBasicAuth("FB_TEST_SRC_USER", "pass-from-a-file") })
	check("splunk", true, func(r *http.Request) { r.URL.RawQuery = "token=url-token-from-a-file" })
	check("splunk", false, func(r *http.Request) { r.URL.RawQuery = "token=" + filepath.Join(dir, "url") })
}

// TestSourceAuthSecretProblems: an unset or empty variable and a missing or
// empty file, for a singular secret or for one element of a rotation list,
// is a problem at the key that names it (with the element's index), never
// showing a value; every problem is reported at once.
func TestSourceAuthSecretProblems(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("do-not-print-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FB_TEST_SRC_EMPTY", "")
	t.Setenv("FB_TEST_SRC_SET", "do-not-print-env")
	cfg := config.Defaults()
	cfg.Sources = map[string]config.SourceConfig{
		"alertmanager": {Auth: &auth.Config{Type: auth.TypeBearer, TokenEnv: "FB_TEST_SRC_NEVER_SET",
			TokensEnv: []string{"FB_TEST_SRC_SET", "FB_TEST_SRC_EMPTY"}}},
		"falco": {Auth: &auth.Config{Type: auth.TypeBasic, Username: "u", PasswordFile: filepath.Join(dir, "missing"),
			PasswordsFile: []string{good, empty}}},
		"grafana": {Auth: &auth.Config{Type: auth.TypeGrafana, SecretFile: empty, SecretsEnv: []string{"FB_TEST_SRC_NEVER_SET"}}},
		"splunk":  {Auth: &auth.Config{Type: auth.TypeURLToken, Token: "do-not-print-literal", TokenFile: good}},
	}
	_, err := config.Validate(cfg, nil)
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Validate = %v, want Problems", err)
	}
	got := map[string]string{}
	for _, p := range ps {
		got[p.Path] = p.Msg
	}
	for path, msg := range map[string]string{
		"sources.alertmanager.auth.token_env":     "environment variable FB_TEST_SRC_NEVER_SET is not set",
		"sources.alertmanager.auth.tokens_env[1]": "environment variable FB_TEST_SRC_EMPTY is not set",
		"sources.falco.auth.password_file":        "open " + filepath.Join(dir, "missing"),
		"sources.falco.auth.passwords_file[1]":    empty + " is empty",
		"sources.grafana.auth.secret_file":        empty + " is empty",
		"sources.grafana.auth.secrets_env[0]":     "environment variable FB_TEST_SRC_NEVER_SET is not set",
		"sources.splunk.auth.token":               "set only one of token, token_env and token_file",
	} {
		if m, ok := got[path]; !ok || !strings.HasPrefix(m, msg) {
			t.Errorf("%s: got %q, want a problem starting %q", path, m, msg)
		}
	}
	if len(ps) != 7 {
		t.Errorf("%d problems, want 7 (no duplicate \"required\"):\n%v", len(ps), err)
	}
	if strings.Contains(err.Error(), "do-not-print") {
		t.Errorf("a problem shows a secret:\n%v", err)
	}
}
