package app_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
)

// TestSecretRotation is issue 17's rotation in its three steps against a
// real server: with the old token and the new one configured (the new one
// by file, from a tokens_file list), requests with either are accepted;
// once the old one is removed and Firebreak restarted, it is refused and
// the new one still works.
func TestSecretRotation(t *testing.T) {
	const oldTok, newTok = "the-old-token-0123", "the-new-token-4567"
	file := filepath.Join(t.TempDir(), "new-token")
	if err := os.WriteFile(file, []byte(newTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := apptest.Config(t, "")
	cfg.Sources = bearerSource()
	am := cfg.Sources["alertmanager"]
	am.Auth.Token = oldTok
	am.Auth.TokensFile = []string{file}
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	for i, tok := range []string{oldTok, newTok} {
		if code := postAs(t, http.DefaultClient, a.URL(), tok, i, nil); code != http.StatusAccepted {
			t.Fatalf("during the rotation, token %d = %d, want 202", i, code)
		}
	}
	if code := postAs(t, http.DefaultClient, a.URL(), "some-other-token", 2, nil); code != http.StatusUnauthorized {
		t.Fatalf("an unlisted token during the rotation = %d, want 401", code)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	// Step three: the old token is removed; the new one is the only one.
	am.Auth.Token, am.Auth.TokensFile, am.Auth.TokenFile = "", nil, file
	b := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	if code := postAs(t, http.DefaultClient, b.URL(), oldTok, 3, nil); code != http.StatusUnauthorized {
		t.Fatalf("the removed token after the restart = %d, want 401", code)
	}
	if code := postAs(t, http.DefaultClient, b.URL(), newTok, 4, nil); code != http.StatusAccepted {
		t.Fatalf("the new token after the restart = %d, want 202", code)
	}
}
