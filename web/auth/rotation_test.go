package auth

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestRotationLists: during a rotation every configured value is accepted
// at once, the singular key's and the lists' in each spelling; anything
// else is still refused.
func TestRotationLists(t *testing.T) {
	bearerH := func(tok string) func(*http.Request) { return header("Authorization", "Bearer "+tok) }
	run(t, Config{Type: TypeBearer, Token: "token-old", Tokens: []string{"token-new", "token-from-the-env", " token-from-a-file"}}, []step{
		{name: "singular", prep: bearerH("token-old")},
		{name: "listed", prep: bearerH("token-new")},
		{name: "listed second", prep: bearerH("token-from-the-env")},
		{name: "listed, whitespace trimmed", prep: bearerH("token-from-a-file")},
		{name: "other", prep: bearerH("token-other"), want: ErrBadCredentials},
	})
	// The list alone stands for the singular key.
	run(t, Config{Type: TypeURLToken, Tokens: []string{"url-a", "url-b"}}, []step{
		{name: "first", prep: func(r *http.Request) { r.URL.RawQuery = "token=url-a" }},
		{name: "second", prep: func(r *http.Request) { r.URL.RawQuery = "token=url-b" }},
		{name: "other", prep: func(r *http.Request) { r.URL.RawQuery = "token=url-c" }, want: ErrBadCredentials},
	})
	run(t, Config{Type: TypeBasic, Username: "am", Password: "pw-old", Passwords: []string{"pw-new"}}, []step{
		{name: "old password", prep: func(r *http.Request) { r.SetBasicAuth("am", "pw-old") }},
		{name: "new password", prep: func(r *http.Request) { r.SetBasicAuth("am", "pw-new") }},
		{name: "other", prep: func(r *http.Request) { r.SetBasicAuth("am", "pw-x") }, want: ErrBadCredentials},
	})
	hubSig := func(key string) func(*http.Request) {
		return header("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac([]byte(key), string(body))))
	}
	run(t, Config{Type: TypeHMAC, Secrets: []string{"hub-new", "hub-old"}}, []step{
		{name: "new", prep: hubSig("hub-new")},
		{name: "old", prep: hubSig("hub-old")},
		{name: "other", prep: hubSig("hub-x"), want: ErrBadCredentials},
	})
	ts := strconv.FormatInt(now.Unix(), 10)
	grafanaSig := func(key string) func(*http.Request) {
		return func(r *http.Request) {
			r.Header.Set("X-Grafana-Alerting-Signature", hex.EncodeToString(mac([]byte(key), ts, ":", string(body))))
			r.Header.Set("X-Grafana-Alerting-Signature-Timestamp", ts)
		}
	}
	run(t, Config{Type: TypeGrafana, Secret: "gf-old", Secrets: []string{"gf-new"}}, []step{
		{name: "old", prep: grafanaSig("gf-old")},
		{name: "new", prep: grafanaSig("gf-new")},
		{name: "other", prep: grafanaSig("gf-x"), want: ErrBadCredentials},
	})
	oldKey, newKey := []byte("old-key-0123456789"), []byte("new-key-0123456789")
	swSign := func(id string, keys ...[]byte) func(*http.Request) {
		return func(r *http.Request) {
			var sigs []string
			for _, k := range keys {
				sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac(k, id, ".", ts, ".", string(body))))
			}
			r.Header.Set("webhook-id", id)
			r.Header.Set("webhook-timestamp", ts)
			r.Header.Set("webhook-signature", strings.Join(sigs, " "))
		}
	}
	enc := func(k []byte) string { return "whsec_" + base64.StdEncoding.EncodeToString(k) }
	run(t, Config{Type: TypeStandardWebhooks, Secrets: []string{enc(newKey), enc(oldKey)}}, []step{
		{name: "signed with the old key", prep: swSign("m1", oldKey)},
		{name: "signed with the new key", prep: swSign("m2", newKey)},
		{name: "signed with both", prep: swSign("m3", newKey, oldKey)},
		{name: "signed with another", prep: swSign("m4", []byte("other-key-0123456")), want: ErrBadCredentials},
	})
	// After the rotation the old key is gone: its signature is refused.
	run(t, Config{Type: TypeStandardWebhooks, Secret: enc(newKey)}, []step{
		{name: "old key after the rotation", prep: swSign("m5", oldKey), want: ErrBadCredentials},
		{name: "sender still signing with both", prep: swSign("m6", newKey, oldKey)},
	})
}

// TestRotationListProblems: each list element is checked on its own, and a
// list is refused by a type that does not use it.
func TestRotationListProblems(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"empty element", Config{Type: TypeBearer, Tokens: []string{"a", " "}}, "tokens[1]: must not be empty"},
		{"unresolved env element", Config{Type: TypeHMAC, SecretsEnv: []string{"FIREBREAK_TEST_UNSET_VAR"}}, "secrets_env: secrets are resolved by the config loader"},
		{"unresolved file element", Config{Type: TypeHMAC, Secret: "s", SecretsFile: []string{"/nonexistent/x"}}, "secrets_file: secrets are resolved by the config loader"},
		{"list the type does not use", Config{Type: TypeBearer, Token: "t", Secrets: []string{"s"}}, "secrets: not used by type bearer"},
		{"bad standard-webhooks element", Config{Type: TypeStandardWebhooks, Secrets: []string{"whsec_not base64!"}}, "secret: a standard-webhooks secret must be base64"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := New(Config{Type: TypeBearer, Tokens: []string{"only-listed"}}); err != nil {
		t.Fatalf("a tokens list without token: %v", err)
	}
	if s := (Config{Type: TypeBearer, Token: "lit", Tokens: []string{"a", "b"}}).String(); strings.Contains(s, "lit") || !strings.Contains(s, "tokens=2 more") {
		t.Errorf("String() = %q", s)
	}
}
