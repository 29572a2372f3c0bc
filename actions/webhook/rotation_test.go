package webhook_test

import (
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions/webhook"
	"github.com/firebreak/firebreak/web/auth"
)

// TestSigningDuringARotation: with the new and the old secret in the
// variable, the request carries a signature of each, the new one first, so
// a receiver that knows only the new secret and one that knows only the
// old both verify it; a receiver with neither refuses it.
func TestSigningDuringARotation(t *testing.T) {
	enc := func(s string) string { return "whsec_" + base64.StdEncoding.EncodeToString([]byte(s)) }
	newSecret, oldSecret := enc("the-new-thirty-two-byte-secret!!"), enc("the-old-thirty-two-byte-secret!!")
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	now := time.Unix(1767225600, 0)
	a := webhook.New(webhook.Config{Now: func() time.Time { return now }, LookupEnv: func(k string) (string, bool) {
		return newSecret + " " + oldSecret, k == "HOOK_SECRETS"
	}})
	if _, err := run(t, a, map[string]any{"url": srv.URL, "secret_env": "HOOK_SECRETS"}); err != nil {
		t.Fatal(err)
	}
	sigs := strings.Fields(rec.reqs[0].Header.Get("webhook-signature"))
	if len(sigs) != 2 {
		t.Fatalf("webhook-signature = %q, want two signatures", sigs)
	}
	first, err := webhook.Sign(newSecret, rec.reqs[0].Header.Get("webhook-id"), now.Unix(), rec.body[0])
	if err != nil || sigs[0] != first {
		t.Fatalf("the first signature is not the new secret's (%v)", err)
	}
	for name, secret := range map[string]string{"new": newSecret, "old": oldSecret, "other": enc("a-third-thirty-two-byte-secret!!")} {
		v, err := auth.New(auth.Config{Type: auth.TypeStandardWebhooks, Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		err = v.Authenticate(rec.reqs[0], rec.body[0], now)
		if (err == nil) != (name != "other") {
			t.Errorf("receiver with the %s secret: %v", name, err)
		}
	}
}
