package playbooks_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/webhook"
	"github.com/firebreak/firebreak/playbooks"
)

// TestStepSecretsAreLoadErrors: a step whose url_env or secret_env names an
// unset variable, or whose url_file is empty, does not load: each is a
// problem at the parameter's position naming it, all reported at once, so
// start-up, `firebreak validate` and a reload refuse it instead of the
// step failing when an alert fires.
func TestStepSecretsAreLoadErrors(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	reg := actions.NewRegistry()
	set := map[string]string{"FB_HOOK": "https://hooks.example/T/B/SECRET"}
	if err := reg.Register(webhook.New(webhook.Config{LookupEnv: func(k string) (string, bool) { v, ok := set[k]; return v, ok }})); err != nil {
		t.Fatal(err)
	}
	src := `name: p
match: "true"
steps:
  - action: webhook.notify
    with: { url_env: FB_HOOK }
  - action: webhook.notify
    with: { url_env: FB_TEST_UNSET_HOOK }
  - action: webhook.notify
    with:
      url_file: ` + empty + `
  - action: webhook.notify
    with: { url_env: FB_HOOK, secret_env: FB_TEST_UNSET_SECRET }
`
	_, err := playbooks.Parse(reg, "p.yaml", []byte(src))
	want := strings.Join([]string{
		`p.yaml:7:13: playbook "p": steps[1].with.url_env: environment variable FB_TEST_UNSET_HOOK is not set (or is empty)`,
		`p.yaml:10:7: playbook "p": steps[2].with.url_file: ` + empty + ` is empty`,
		`p.yaml:12:31: playbook "p": steps[3].with.secret_env: environment variable FB_TEST_UNSET_SECRET is not set (or is empty)`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("Parse = %v\nwant:\n%s", err, want)
	}
	if strings.Contains(err.Error(), "SECRET\"") || strings.Contains(err.Error(), "T/B/") {
		t.Errorf("the errors show a secret: %v", err)
	}
}
