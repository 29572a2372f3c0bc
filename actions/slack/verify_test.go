package slack

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"

func TestVerifyRequest(t *testing.T) {
	body := []byte("payload=%7B%22type%22%3A%22block_actions%22%7D")
	signedAt := fixedNow
	good := SignForTest(signingSecret, signedAt, body)

	with := func(mod func(h http.Header)) http.Header {
		h := good.Clone()
		mod(h)
		return h
	}
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		secret string
		now    time.Time
		want   error
	}{
		{"valid", good, body, signingSecret, signedAt, nil},
		{"valid 4m59s later", good, body, signingSecret, signedAt.Add(4*time.Minute + 59*time.Second), nil},
		{"valid at exactly 5m", good, body, signingSecret, signedAt.Add(5 * time.Minute), nil},
		{"valid with a clock 2m behind", good, body, signingSecret, signedAt.Add(-2 * time.Minute), nil},
		{"stale 5m01s", good, body, signingSecret, signedAt.Add(5*time.Minute + time.Second), ErrStaleRequest},
		{"stale an hour", good, body, signingSecret, signedAt.Add(time.Hour), ErrStaleRequest},
		{"from the future", good, body, signingSecret, signedAt.Add(-6 * time.Minute), ErrStaleRequest},
		{"tampered body", good, append([]byte(nil), "payload=%7B%7D"...), signingSecret, signedAt, ErrInvalidSignature},
		{"wrong secret", good, body, "another-secret", signedAt, ErrInvalidSignature},
		{"timestamp moved", with(func(h http.Header) {
			h.Set(HeaderTimestamp, strconv.FormatInt(signedAt.Unix()+1, 10))
		}), body, signingSecret, signedAt, ErrInvalidSignature},
		{"no v0 prefix", with(func(h http.Header) { h.Set(HeaderSignature, h.Get(HeaderSignature)[3:]) }), body, signingSecret, signedAt, ErrInvalidSignature},
		{"v1 scheme", with(func(h http.Header) { h.Set(HeaderSignature, "v1="+h.Get(HeaderSignature)[3:]) }), body, signingSecret, signedAt, ErrInvalidSignature},
		{"not hex", with(func(h http.Header) { h.Set(HeaderSignature, "v0=zz") }), body, signingSecret, signedAt, ErrInvalidSignature},
		{"short", with(func(h http.Header) { h.Set(HeaderSignature, h.Get(HeaderSignature)[:20]) }), body, signingSecret, signedAt, ErrInvalidSignature},
		{"timestamp not a number", with(func(h http.Header) { h.Set(HeaderTimestamp, "yesterday") }), body, signingSecret, signedAt, ErrInvalidSignature},
		{"missing signature", with(func(h http.Header) { h.Del(HeaderSignature) }), body, signingSecret, signedAt, ErrMissingHeaders},
		{"missing timestamp", with(func(h http.Header) { h.Del(HeaderTimestamp) }), body, signingSecret, signedAt, ErrMissingHeaders},
		{"no headers", http.Header{}, body, signingSecret, signedAt, ErrMissingHeaders},
		{"no secret", good, body, "", signedAt, ErrNoSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyRequest(tt.header, tt.body, tt.secret, tt.now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("VerifyRequest = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyRequest = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestSignForTestMatchesSlackGo checks SignForTest against slack-go's own
// verifier, which implements Slack's documented scheme independently.
func TestSignForTestMatchesSlackGo(t *testing.T) {
	body := []byte("payload=%7B%22type%22%3A%22block_actions%22%7D")
	h := SignForTest(signingSecret, time.Now(), body)
	sv, err := slack.NewSecretsVerifier(h, signingSecret)
	if err != nil {
		t.Fatalf("NewSecretsVerifier: %v", err)
	}
	if _, err := sv.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := sv.Ensure(); err != nil {
		t.Fatalf("slack-go rejects SignForTest's signature: %v", err)
	}
	if h.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", h.Get("Content-Type"))
	}
}

// TestVerifyRequestKnownVector uses the example from Slack's documentation
// on verifying requests.
func TestVerifyRequestKnownVector(t *testing.T) {
	body := []byte("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
	h := http.Header{}
	h.Set(HeaderTimestamp, "1531420618")
	h.Set(HeaderSignature, "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	if err := VerifyRequest(h, body, signingSecret, time.Unix(1531420618, 0).Add(time.Minute)); err != nil {
		t.Fatalf("Slack's documented example does not verify: %v", err)
	}
}
