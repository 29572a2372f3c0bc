package web_test

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/firebreak/firebreak/web"
)

const slackSigningSecret = "8f742231b10e8888abcd99yyyzzz85a5"

func TestVerifySlackRequest(t *testing.T) {
	body := []byte("payload=%7B%22type%22%3A%22block_actions%22%7D")
	signedAt := slackSignedAt
	good := web.SlackSignForTest(slackSigningSecret, signedAt, body)

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
		{"valid", good, body, slackSigningSecret, signedAt, nil},
		{"valid 4m59s later", good, body, slackSigningSecret, signedAt.Add(4*time.Minute + 59*time.Second), nil},
		{"valid at exactly 5m", good, body, slackSigningSecret, signedAt.Add(5 * time.Minute), nil},
		{"valid with a clock 2m behind", good, body, slackSigningSecret, signedAt.Add(-2 * time.Minute), nil},
		{"stale 5m01s", good, body, slackSigningSecret, signedAt.Add(5*time.Minute + time.Second), web.ErrSlackStaleRequest},
		{"stale an hour", good, body, slackSigningSecret, signedAt.Add(time.Hour), web.ErrSlackStaleRequest},
		{"from the future", good, body, slackSigningSecret, signedAt.Add(-6 * time.Minute), web.ErrSlackStaleRequest},
		{"tampered body", good, append([]byte(nil), "payload=%7B%7D"...), slackSigningSecret, signedAt, web.ErrSlackInvalidSignature},
		{"wrong secret", good, body, "another-secret", signedAt, web.ErrSlackInvalidSignature},
		{"timestamp moved", with(func(h http.Header) {
			h.Set(web.SlackHeaderTimestamp, strconv.FormatInt(signedAt.Unix()+1, 10))
		}), body, slackSigningSecret, signedAt, web.ErrSlackInvalidSignature},
		{"no v0 prefix", with(func(h http.Header) { h.Set(web.SlackHeaderSignature, h.Get(web.SlackHeaderSignature)[3:]) }), body, slackSigningSecret, signedAt, web.ErrSlackInvalidSignature},
		{"v1 scheme", with(func(h http.Header) { h.Set(web.SlackHeaderSignature, "v1="+h.Get(web.SlackHeaderSignature)[3:]) }), body, slackSigningSecret, signedAt, web.ErrSlackInvalidSignature},
		{"not hex", with(func(h http.Header) { h.Set(web.SlackHeaderSignature, "v0=zz") }), body, slackSigningSecret, signedAt, web.ErrSlackInvalidSignature},
		{"short", with(func(h http.Header) { h.Set(web.SlackHeaderSignature, h.Get(web.SlackHeaderSignature)[:20]) }), body, slackSigningSecret, signedAt, web.ErrSlackInvalidSignature},
		{"timestamp not a number", with(func(h http.Header) { h.Set(web.SlackHeaderTimestamp, "yesterday") }), body, slackSigningSecret, signedAt, web.ErrSlackInvalidSignature},
		{"missing signature", with(func(h http.Header) { h.Del(web.SlackHeaderSignature) }), body, slackSigningSecret, signedAt, web.ErrSlackMissingHeaders},
		{"missing timestamp", with(func(h http.Header) { h.Del(web.SlackHeaderTimestamp) }), body, slackSigningSecret, signedAt, web.ErrSlackMissingHeaders},
		{"no headers", http.Header{}, body, slackSigningSecret, signedAt, web.ErrSlackMissingHeaders},
		{"no secret", good, body, "", signedAt, web.ErrSlackNoSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := web.VerifySlackRequest(tt.header, tt.body, tt.secret, tt.now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("VerifySlackRequest = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifySlackRequest = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestSlackSignForTestMatchesSlackGo checks SlackSignForTest against slack-go's own
// verifier, which implements Slack's documented scheme independently.
func TestSlackSignForTestMatchesSlackGo(t *testing.T) {
	body := []byte("payload=%7B%22type%22%3A%22block_actions%22%7D")
	h := web.SlackSignForTest(slackSigningSecret, time.Now(), body)
	sv, err := slackgo.NewSecretsVerifier(h, slackSigningSecret)
	if err != nil {
		t.Fatalf("NewSecretsVerifier: %v", err)
	}
	if _, err := sv.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := sv.Ensure(); err != nil {
		t.Fatalf("slack-go rejects SlackSignForTest's signature: %v", err)
	}
	if h.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", h.Get("Content-Type"))
	}
}

// TestVerifySlackRequestKnownVector uses the example from Slack's documentation
// on verifying requests.
func TestVerifySlackRequestKnownVector(t *testing.T) {
	body := []byte("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
	h := http.Header{}
	h.Set(web.SlackHeaderTimestamp, "1531420618")
	h.Set(web.SlackHeaderSignature, "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	if err := web.VerifySlackRequest(h, body, slackSigningSecret, time.Unix(1531420618, 0).Add(time.Minute)); err != nil {
		t.Fatalf("Slack's documented example does not verify: %v", err)
	}
}
