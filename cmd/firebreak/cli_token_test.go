package main

import (
	"strings"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
)

// TestTokenEnvByTheOneResolver: the CLI reads its API token by the one
// secret resolver. A variable named by --token-env that is unset or blank
// is an error naming the flag (it used to send no token, or quietly fall
// back to $FIREBREAK_API_TOKEN); a set one is trimmed as every secret is
// and accepted by a real server; the default variable unset still means no
// token.
func TestTokenEnvByTheOneResolver(t *testing.T) {
	cfg := apptest.Config(t, "")
	cfg.API.Tokens = []app.APIToken{{Name: "viewer", Role: "viewer", Token: "viewer-token-0123456789"}}
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	t.Setenv("FIREBREAK_API_TOKEN", "viewer-token-0123456789") // the fallback it must not take
	t.Setenv("FB_TEST_BLANK_TOKEN", "  ")
	t.Setenv("FB_TEST_PADDED_TOKEN", " viewer-token-0123456789\n")

	for _, name := range []string{"FB_TEST_UNSET_TOKEN", "FB_TEST_BLANK_TOKEN"} {
		code, out, errOut := auditCLI(t, "approvals", "list", "--addr", a.Addr(), "--token-env", name)
		want := "firebreak: --token-env: environment variable " + name + " is not set (or is empty)\n"
		if code != 2 || errOut != want {
			t.Errorf("--token-env %s: exit %d, stderr %q, stdout %q; want 2 and %q", name, code, errOut, out, want)
		}
	}
	if code, out, errOut := auditCLI(t, "approvals", "list", "--addr", a.Addr(), "--token-env", "FB_TEST_PADDED_TOKEN"); code != 0 || !strings.Contains(errOut, "no approvals") {
		t.Errorf("--token-env with a padded token: exit %d, %q %q; want the server's (empty) list", code, out, errOut)
	}
	t.Setenv("FIREBREAK_API_TOKEN", "")
	if code, _, errOut := auditCLI(t, "approvals", "list", "--addr", a.Addr()); code != 1 || !strings.Contains(errOut, "401") {
		t.Errorf("no token at all: exit %d, %q; want the server's 401, not a token error", code, errOut)
	}
}
