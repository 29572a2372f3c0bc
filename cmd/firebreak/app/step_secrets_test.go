package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
)

const unsetHookPlaybook = `
name: notify
match: event.source == "alertmanager"
steps:
  - action: webhook.notify
    with: {url_env: FB_TEST_UNSET_HOOK_URL}
`

// TestStepSecretsAtStartAndReload: a playbook whose url_env names an unset
// variable stops start-up with the positioned problem, and a reload to it
// is refused with that problem while the loaded set stays: the step no
// longer starts fine and fails when an alert fires.
func TestStepSecretsAtStartAndReload(t *testing.T) {
	cfg := apptest.Config(t, unsetHookPlaybook)
	file := filepath.Join(cfg.Playbooks[0], "playbooks.yaml")
	// A step parameter's problem is positioned at its key, as every
	// steps[N].with.* problem is (testdata/playbooks/bad/params.err).
	const problem = `:6:12: playbook "notify": steps[0].with.url_env: environment variable FB_TEST_UNSET_HOOK_URL is not set (or is empty)`
	want := file + problem
	a, err := app.Start(context.Background(), cfg, slog.New(slog.DiscardHandler), app.Options{})
	if err == nil {
		_ = a.Close()
		t.Fatal("start-up accepted a step whose url_env is unset")
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("start-up error = %v, want it to hold %q", err, want)
	}

	cfg = apptest.Config(t, reloadV1)
	apptest.WithOperator(&cfg)
	a = apptest.Start(t, cfg, app.Options{})
	file = filepath.Join(cfg.Playbooks[0], "playbooks.yaml")
	want = file + problem
	if err := os.WriteFile(file, []byte(unsetHookPlaybook), 0o600); err != nil {
		t.Fatal(err)
	}
	code, body := apptest.PostAs(t, a.URL()+"/api/v1/playbooks/reload", apptest.OperatorToken, nil)
	var res app.ReloadResult
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("reload = %d %s: %v", code, body, err)
	}
	if code != http.StatusUnprocessableEntity || res.OK || len(res.Problems) != 1 || res.Problems[0].Error() != want {
		t.Fatalf("reload = %d %s, want 422 with the one problem %q", code, body, want)
	}
	if set := a.Engine.Playbooks(); set.Len() != 1 || set.Playbooks[0].Steps[0].With["url"] == nil {
		t.Errorf("the loaded set was replaced")
	}
}
