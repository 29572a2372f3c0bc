package playbooks_test

import (
	"strings"
	"testing"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/webhook"
	"github.com/firebreak/firebreak/playbooks"
)

// TestOneOfParams: a Spec.OneOf group needs exactly one member, templated
// ones included, and each problem is positioned.
func TestOneOfParams(t *testing.T) {
	reg := actions.NewRegistry()
	// url_env is read at load time: HOOK is set.
	hook := func(k string) (string, bool) { return "https://hooks.example/", k == "HOOK" }
	if err := reg.Register(webhook.New(webhook.Config{LookupEnv: hook})); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ with, want string }{
		{`{ body: {} }`, `p.yaml:4:5: playbook "p": steps[0].with.url: is required (or url_env, or url_file)`},
		{`{ url: "http://h/", url_env: HOOK }`, `p.yaml:6:27: playbook "p": steps[0].with.url_env: url, url_env, url_file are exclusive: give one`},
		{`{ url: "{{ event.annotations.u }}", url_file: /run/u }`, `steps[0].with.url_file: url, url_env, url_file are exclusive`},
		{`{ url: "{{ event.annotations.u }}" }`, ``},
		{`{ url_env: HOOK }`, ``},
	} {
		_, err := playbooks.Parse(reg, "p.yaml", []byte("name: p\nmatch: \"true\"\nsteps:\n  - action: webhook.notify\n    with:\n      "+tc.with+"\n"))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.with, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.with, err, tc.want)
		}
	}
}
