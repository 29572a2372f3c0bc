package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	body = []byte(`{"alerts":[{"status":"firing"}]}`)
	now  = time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)
)

func mac(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// step is one request against an Authenticator that is shared by the steps
// of a case, so replays can be tested.
type step struct {
	name    string
	prep    func(r *http.Request)
	body    []byte // body when non-nil, else the package body
	at      time.Time
	want    error // nil for accepted
	release bool  // call Release after this step
}

func run(t *testing.T, cfg Config, steps []step) {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, s := range steps {
		r := httptest.NewRequest(http.MethodPost, "/hooks/x", nil)
		r.RemoteAddr = "192.0.2.10:40000"
		if s.prep != nil {
			s.prep(r)
		}
		b := body
		if s.body != nil {
			b = s.body
		}
		at := s.at
		if at.IsZero() {
			at = now
		}
		err := a.Authenticate(r, b, at)
		switch {
		case s.want == nil && err != nil:
			t.Errorf("%s: refused: %v", s.name, err)
		case s.want != nil && !errors.Is(err, s.want):
			t.Errorf("%s: got %v, want %v", s.name, err, s.want)
		}
		if err != nil {
			for _, secret := range []string{cfg.Token, cfg.Password, cfg.Secret} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("%s: error %q contains the secret", s.name, err)
				}
			}
		}
		if s.release {
			a.(Releaser).Release(r)
		}
	}
}

func header(k, v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(k, v) }
}

func TestBearer(t *testing.T) {
	run(t, Config{Type: TypeBearer, Token: "s3cret-token"}, []step{
		{name: "right", prep: header("Authorization", "Bearer s3cret-token")},
		{name: "scheme case", prep: header("Authorization", "bearer s3cret-token")},
		{name: "replay is fine for a static token", prep: header("Authorization", "Bearer s3cret-token")},
		{name: "wrong", prep: header("Authorization", "Bearer s3cret-tokeN"), want: ErrBadCredentials},
		{name: "prefix of the token", prep: header("Authorization", "Bearer s3cret"), want: ErrBadCredentials},
		{name: "basic scheme", prep: header("Authorization", "Basic czNjcmV0LXRva2Vu"), want: ErrBadCredentials},
		{name: "no token", prep: header("Authorization", "Bearer"), want: ErrBadCredentials},
		{name: "missing", want: ErrMissingCredentials},
	})
}

func TestBasic(t *testing.T) {
	run(t, Config{Type: TypeBasic, Username: "alertmanager", Password: "pa:ss"}, []step{
		{name: "right", prep: func(r *http.Request) { r.SetBasicAuth("alertmanager", "pa:ss") }},
		{name: "wrong password", prep: func(r *http.Request) { r.SetBasicAuth("alertmanager", "pa:sS") }, want: ErrBadCredentials},
		{name: "wrong user", prep: func(r *http.Request) { r.SetBasicAuth("grafana", "pa:ss") }, want: ErrBadCredentials},
		{name: "bearer instead", prep: header("Authorization", "Bearer pa:ss"), want: ErrBadCredentials},
		{name: "not base64", prep: header("Authorization", "Basic !!!"), want: ErrBadCredentials},
		{name: "missing", want: ErrMissingCredentials},
	})
}

func TestHMAC(t *testing.T) {
	key := []byte("hub-secret")
	sig := "sha256=" + hex.EncodeToString(mac(key, string(body)))
	run(t, Config{Type: TypeHMAC, Secret: string(key)}, []step{
		{name: "right", prep: header("X-Hub-Signature-256", sig)},
		{name: "upper-case hex", prep: header("X-Hub-Signature-256", "sha256="+strings.ToUpper(sig[7:]))},
		{name: "other body", prep: header("X-Hub-Signature-256", sig), body: []byte(`{"alerts":[]}`), want: ErrBadCredentials},
		{name: "wrong key", prep: header("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac([]byte("x"), string(body)))), want: ErrBadCredentials},
		{name: "no prefix", prep: header("X-Hub-Signature-256", sig[7:]), want: ErrBadCredentials},
		{name: "not hex", prep: header("X-Hub-Signature-256", "sha256=zz"), want: ErrBadCredentials},
		{name: "missing", want: ErrMissingCredentials},
	})
	run(t, Config{Type: TypeHMAC, Secret: string(key), Header: "X-Signature"}, []step{
		{name: "custom header", prep: header("X-Signature", sig)},
		{name: "default header ignored", prep: header("X-Hub-Signature-256", sig), want: ErrMissingCredentials},
	})
}

func TestGrafana(t *testing.T) {
	key := []byte("grafana-secret")
	plain := hex.EncodeToString(mac(key, string(body)))
	ts := strconv.FormatInt(now.Unix(), 10)
	signed := hex.EncodeToString(mac(key, ts, ":", string(body)))
	withTS := func(ts, sig string) func(*http.Request) {
		return func(r *http.Request) {
			r.Header.Set("X-Grafana-Alerting-Signature", sig)
			r.Header.Set("X-Grafana-Alerting-Signature-Timestamp", ts)
		}
	}
	oldTS := strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)
	oldSig := hex.EncodeToString(mac(key, oldTS, ":", string(body)))
	futTS := strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10)
	futSig := hex.EncodeToString(mac(key, futTS, ":", string(body)))
	run(t, Config{Type: TypeGrafana, Secret: string(key)}, []step{
		{name: "body only", prep: header("X-Grafana-Alerting-Signature", plain)},
		{name: "body only, wrong", prep: header("X-Grafana-Alerting-Signature", hex.EncodeToString(mac([]byte("k"), string(body)))), want: ErrBadCredentials},
		{name: "body-only signature with a timestamp header", prep: withTS(ts, plain), want: ErrBadCredentials},
		{name: "timestamped", prep: withTS(ts, signed)},
		{name: "timestamped, replayed", prep: withTS(ts, signed), at: now.Add(time.Minute), want: ErrReplayed},
		// Hex is case-insensitive: the same signature re-cased is the same
		// request and must not pass as a new one.
		{name: "replayed with the signature upper-cased", prep: withTS(ts, strings.ToUpper(signed)), at: now.Add(time.Minute), want: ErrReplayed},
		{name: "replayed with the timestamp padded", prep: withTS(" "+ts+" ", strings.ToUpper(signed)), at: now.Add(time.Minute), want: ErrReplayed},
		{name: "timestamp changed", prep: withTS(strconv.FormatInt(now.Unix()+1, 10), signed), want: ErrBadCredentials},
		{name: "expired", prep: withTS(oldTS, oldSig), want: ErrExpired},
		{name: "from the future", prep: withTS(futTS, futSig), want: ErrExpired},
		{name: "missing", want: ErrMissingCredentials},
		{name: "not hex", prep: header("X-Grafana-Alerting-Signature", "sha256="+plain), want: ErrBadCredentials},
	})
	run(t, Config{Type: TypeGrafana, Secret: string(key), RequireTimestamp: true}, []step{
		{name: "timestamp required", prep: header("X-Grafana-Alerting-Signature", plain), want: ErrMissingCredentials},
		{name: "timestamped", prep: withTS(ts, signed)},
		{name: "released after a failed delivery", prep: withTS(ts, signed), want: ErrReplayed, release: true},
		{name: "retry after release", prep: withTS(ts, signed)},
		{name: "re-cased replay after the retry", prep: withTS(ts, strings.ToUpper(signed)), want: ErrReplayed, release: true},
		{name: "released by its re-cased form", prep: withTS(ts, signed)},
		{name: "replay after the window", prep: withTS(ts, signed), at: now.Add(6 * time.Minute), want: ErrExpired},
	})
}

func TestStandardWebhooks(t *testing.T) {
	raw := []byte("0123456789abcdef0123456789abcdef")
	secret := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	sign := func(id string, at time.Time, b []byte) func(*http.Request) {
		ts := strconv.FormatInt(at.Unix(), 10)
		sig := "v1," + base64.StdEncoding.EncodeToString(mac(raw, id, ".", ts, ".", string(b)))
		return func(r *http.Request) {
			r.Header.Set("webhook-id", id)
			r.Header.Set("webhook-timestamp", ts)
			r.Header.Set("webhook-signature", sig)
		}
	}
	rotated := func(r *http.Request) {
		sign("msg_rot", now, body)(r)
		r.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac([]byte("old"), "x"))+" v1a,xyz "+r.Header.Get("webhook-signature"))
	}
	run(t, Config{Type: TypeStandardWebhooks, Secret: secret}, []step{
		{name: "right", prep: sign("msg_1", now, body)},
		{name: "replayed", prep: sign("msg_1", now, body), at: now.Add(2 * time.Minute), want: ErrReplayed},
		{name: "retry re-signed later", prep: sign("msg_1", now.Add(5*time.Second), body), at: now.Add(5 * time.Second)},
		{name: "several signatures, one matches", prep: rotated},
		{name: "other body", prep: sign("msg_2", now, body), body: []byte(`{}`), want: ErrBadCredentials},
		{name: "expired", prep: sign("msg_3", now.Add(-5*time.Minute-time.Second), body), want: ErrExpired},
		{name: "from the future", prep: sign("msg_4", now.Add(5*time.Minute+time.Second), body), want: ErrExpired},
		{name: "id changed", prep: func(r *http.Request) { sign("msg_5", now, body)(r); r.Header.Set("webhook-id", "msg_6") }, want: ErrBadCredentials},
		{name: "unsupported version", prep: func(r *http.Request) {
			sign("msg_7", now, body)(r)
			r.Header.Set("webhook-signature", strings.Replace(r.Header.Get("webhook-signature"), "v1,", "v2,", 1))
		}, want: ErrBadCredentials},
		{name: "no signature header", prep: func(r *http.Request) { sign("msg_8", now, body)(r); r.Header.Del("webhook-signature") }, want: ErrMissingCredentials},
		{name: "missing", want: ErrMissingCredentials},
		{name: "released, then the identical retry", prep: sign("msg_9", now, body), release: true},
		{name: "identical retry after release", prep: sign("msg_9", now, body)},
	})
	// A secret without the whsec_ prefix is base64 too.
	run(t, Config{Type: TypeStandardWebhooks, Secret: base64.StdEncoding.EncodeToString(raw)}, []step{
		{name: "unprefixed secret", prep: sign("msg_1", now, body)},
	})
}

func TestURLToken(t *testing.T) {
	run(t, Config{Type: TypeURLToken, Token: "splunk-url-token"}, []step{
		{name: "path value", prep: func(r *http.Request) { r.SetPathValue("token", "splunk-url-token") }},
		{name: "SetPathToken", prep: func(r *http.Request) { SetPathToken(r, "splunk-url-token") }},
		{name: "wrong SetPathToken", prep: func(r *http.Request) { SetPathToken(r, "splunk-url-tokem") }, want: ErrBadCredentials},
		{name: "query", prep: func(r *http.Request) { r.URL.RawQuery = "token=splunk-url-token" }},
		{name: "wrong", prep: func(r *http.Request) { r.SetPathValue("token", "splunk-url-tokem") }, want: ErrBadCredentials},
		{name: "missing", want: ErrMissingCredentials},
		{name: "header is not a URL token", prep: header("Authorization", "Bearer splunk-url-token"), want: ErrMissingCredentials},
	})
	run(t, Config{Type: TypeURLToken, Token: "t0k", TokenParam: "key"}, []step{
		{name: "custom param", prep: func(r *http.Request) { r.URL.RawQuery = "key=t0k" }},
		{name: "default param ignored", prep: func(r *http.Request) { r.URL.RawQuery = "token=t0k" }, want: ErrMissingCredentials},
	})
}

func TestAllowCIDRs(t *testing.T) {
	from := func(addr string) func(*http.Request) {
		return func(r *http.Request) {
			r.RemoteAddr = addr
			r.Header.Set("Authorization", "Bearer tok")
		}
	}
	run(t, Config{Type: TypeBearer, Token: "tok", AllowCIDRs: []string{"10.0.0.0/8", "192.0.2.10", "2001:db8::/32", "::ffff:198.51.100.0/120"}}, []step{
		{name: "inside", prep: from("10.1.2.3:5555")},
		{name: "single address", prep: from("192.0.2.10:1")},
		{name: "ipv6", prep: from("[2001:db8::1]:443")},
		{name: "4in6 remote", prep: from("[::ffff:10.9.9.9]:80")},
		{name: "4in6 range", prep: from("198.51.100.7:80")},
		{name: "bare address", prep: from("10.0.0.1")},
		{name: "outside", prep: from("192.0.2.11:1"), want: ErrForbiddenAddress},
		{name: "garbage", prep: from("pipe"), want: ErrForbiddenAddress},
		{name: "inside without token", prep: func(r *http.Request) { r.RemoteAddr = "10.0.0.1:1" }, want: ErrMissingCredentials},
	})
	run(t, Config{Type: TypeNone, Insecure: true, AllowCIDRs: []string{"127.0.0.0/8"}}, []step{
		{name: "none inside", prep: func(r *http.Request) { r.RemoteAddr = "127.0.0.1:1" }},
		{name: "none outside", want: ErrForbiddenAddress},
	})
}

func TestNone(t *testing.T) {
	run(t, Config{Type: TypeNone, Insecure: true}, []step{{name: "anything goes"}})
}

// TestLiteralSecrets: New takes the values the config loader resolved, as
// literals, in every secret of every mode that uses one.
func TestLiteralSecrets(t *testing.T) {
	run(t, Config{Type: TypeBearer, Token: "resolved-token"}, []step{
		{name: "literal", prep: header("Authorization", "Bearer resolved-token")},
		{name: "literal, wrong", prep: header("Authorization", "Bearer other-token"), want: ErrBadCredentials},
	})
	run(t, Config{Type: TypeBasic, Username: "resolved-user", Password: "resolved-pass"}, []step{
		{name: "basic", prep: func(r *http.Request) { r.SetBasicAuth("resolved-user", "resolved-pass") }},
		{name: "basic, wrong password", prep: func(r *http.Request) { r.SetBasicAuth("resolved-user", "x") }, want: ErrBadCredentials},
	})
}

// TestNewRefusesUnresolved: given a *_env or *_file spelling, New refuses
// it, naming the key, and reads neither the environment nor the file (the
// config loader is the one resolver), even when both hold a valid value.
func TestNewRefusesUnresolved(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FIREBREAK_TEST_TOKEN", "from-env")
	for _, tt := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"token_env", Config{Type: TypeBearer, TokenEnv: "FIREBREAK_TEST_TOKEN"}, []string{"token_env: secrets are resolved by the config loader"}},
		{"token_file", Config{Type: TypeBearer, TokenFile: file}, []string{"token_file: secrets are resolved by the config loader"}},
		{"username_env and password_file", Config{Type: TypeBasic, UsernameEnv: "FIREBREAK_TEST_TOKEN", PasswordFile: file}, []string{"username_env: ", "password_file: "}},
		{"secret_env beside a literal", Config{Type: TypeHMAC, Secret: "s", SecretEnv: "FIREBREAK_TEST_TOKEN"}, []string{"secret_env: secrets are resolved by the config loader"}},
		{"tokens_env", Config{Type: TypeBearer, Token: "t", TokensEnv: []string{"FIREBREAK_TEST_TOKEN"}}, []string{"tokens_env: secrets are resolved by the config loader"}},
		{"passwords_file", Config{Type: TypeBasic, Username: "u", Password: "p", PasswordsFile: []string{file}}, []string{"passwords_file: "}},
		{"secrets_env and secrets_file", Config{Type: TypeGrafana, SecretsEnv: []string{"FIREBREAK_TEST_TOKEN"}, SecretsFile: []string{file}}, []string{"secrets_env: ", "secrets_file: "}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.cfg)
			if err == nil {
				t.Fatalf("accepted: %v", a)
			}
			if !errors.Is(err, ErrConfig) || !errors.Is(err, ErrUnresolvedSecret) {
				t.Errorf("%v does not wrap ErrConfig and ErrUnresolvedSecret", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "from-env") || strings.Contains(err.Error(), "from-file") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"no type", Config{}, []string{"type is required"}},
		{"unknown type", Config{Type: "oauth2"}, []string{`type "oauth2" is unknown`}},
		{"none without insecure", Config{Type: TypeNone}, []string{"type none requires insecure: true"}},
		{"bearer without token", Config{Type: TypeBearer}, []string{"token: required by type bearer"}},
		{"basic without password", Config{Type: TypeBasic, Username: "u"}, []string{"password: required by type basic"}},
		{"unused secret", Config{Type: TypeBearer, Token: "a", Password: "p"}, []string{"password: not used by type bearer"}},
		{"bad cidr", Config{Type: TypeBearer, Token: "a", AllowCIDRs: []string{"10.0.0.0/33"}}, []string{`allow_cidrs[0]: "10.0.0.0/33"`}},
		{"bad whsec", Config{Type: TypeStandardWebhooks, Secret: "whsec_not base64!"}, []string{"secret: a standard-webhooks secret must be base64"}},
		{"negative tolerance", Config{Type: TypeGrafana, Secret: "s", Tolerance: -time.Second}, []string{"tolerance: must not be negative"}},
		{"every problem at once", Config{Type: TypeBasic, Token: "x", AllowCIDRs: []string{"nope"}}, []string{"username: required", "password: required", "token: not used", "allow_cidrs[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("%v does not wrap ErrConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigStringHidesSecrets(t *testing.T) {
	c := Config{Type: TypeBasic, Username: "user-literal", PasswordEnv: "PW", AllowCIDRs: []string{"10.0.0.0/8"}}
	s := c.String()
	if strings.Contains(s, "user-literal") {
		t.Errorf("String() = %q shows a secret", s)
	}
	if want := "auth{type=basic username=<redacted> password=$PW allow_cidrs=10.0.0.0/8}"; s != want {
		t.Errorf("String() = %q, want %q", s, want)
	}
	if v := c.LogValue().String(); v != s {
		t.Errorf("LogValue() = %q", v)
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(3)
	exp := now.Add(time.Hour)
	for _, k := range []string{"a", "b", "c", "d"} {
		if c.seen(k, exp, now) {
			t.Fatalf("%s seen on first sight", k)
		}
	}
	if c.len() != 3 {
		t.Errorf("len = %d, want 3", c.len())
	}
	if c.seen("a", exp, now) {
		t.Error("oldest key a should have been forgotten")
	}
	if !c.seen("d", exp, now) {
		t.Error("newest key d forgotten")
	}
	// Expired keys go first and are not reported.
	later := exp.Add(time.Second)
	if c.seen("d", later.Add(time.Hour), later) {
		t.Error("expired key reported as seen")
	}
	if c.len() != 1 {
		t.Errorf("len after expiry = %d, want 1", c.len())
	}
}

func TestConcurrent(t *testing.T) {
	raw := []byte("k")
	a, err := New(Config{Type: TypeStandardWebhooks, Secret: base64.StdEncoding.EncodeToString(raw), ReplayCacheSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]int{}
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				id := "m" + strconv.Itoa(j%100)
				r := httptest.NewRequest(http.MethodPost, "/", nil)
				r.Header.Set("webhook-id", id)
				r.Header.Set("webhook-timestamp", ts)
				r.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac(raw, id, ".", ts, ".", string(body))))
				if a.Authenticate(r, body, now) == nil {
					mu.Lock()
					accepted[id]++
					mu.Unlock()
				}
				_ = i
			}
		}()
	}
	wg.Wait()
	if len(accepted) != 100 {
		t.Errorf("%d ids accepted, want 100", len(accepted))
	}
}

func TestReasonAndStatus(t *testing.T) {
	for _, tt := range []struct {
		err    error
		reason string
		status int
	}{
		{nil, "", 200},
		{ErrMissingCredentials, "missing_credentials", 401},
		{ErrBadCredentials, "bad_credentials", 401},
		{ErrReplayed, "replayed", 401},
		{ErrExpired, "expired", 401},
		{ErrForbiddenAddress, "forbidden_address", 403},
		{errors.New("x"), "error", 401},
	} {
		if got := Reason(tt.err); got != tt.reason {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.reason)
		}
		if got := HTTPStatus(tt.err); got != tt.status {
			t.Errorf("HTTPStatus(%v) = %d, want %d", tt.err, got, tt.status)
		}
	}
}

// TestStandardWebhooksVector checks the Standard Webhooks specification's
// published test vector, so any of its libraries can sign for Firebreak.
func TestStandardWebhooksVector(t *testing.T) {
	at := time.Unix(1614265330, 0)
	vector := func(r *http.Request) {
		r.Header.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
		r.Header.Set("webhook-timestamp", "1614265330")
		r.Header.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	}
	b := []byte(`{"test": 2432232314}`)
	for _, secret := range []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
		run(t, Config{Type: TypeStandardWebhooks, Secret: secret}, []step{
			{name: "vector", prep: vector, body: b, at: at.Add(10 * time.Second)},
			{name: "vector replayed", prep: vector, body: b, at: at.Add(20 * time.Second), want: ErrReplayed},
			{name: "vector, body changed", prep: vector, body: []byte(`{"test": 2432232315}`), at: at, want: ErrBadCredentials},
		})
	}
}

// TestHMACGitHubVector checks the example from GitHub's "Validating webhook
// deliveries" documentation.
func TestHMACGitHubVector(t *testing.T) {
	run(t, Config{Type: TypeHMAC, Secret: "It's a Secret to Everybody"}, []step{
		{name: "github example", body: []byte("Hello, World!"),
			prep: header("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")},
	})
}
