package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
)

const reloadV1 = `
name: notify
match: event.source == "alertmanager"
steps:
  - action: webhook.notify
    with: {url: "http://127.0.0.1:1/v1"}
`

type listed struct {
	Playbooks []struct {
		Name string `json:"name"`
		File string `json:"file"`
		Hash string `json:"hash"`
	} `json:"playbooks"`
}

func getPlaybooks(t *testing.T, a *app.App) listed {
	t.Helper()
	var l listed
	getJSONAs(t, a.URL()+"/api/v1/playbooks", apptest.OperatorToken, &l)
	return l
}

func reloadRecords(t *testing.T, a *app.App) []audit.Record {
	t.Helper()
	recs, _, err := a.DB.ListAudit(context.Background(), audit.Query{Kind: audit.KindReload, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestReload(t *testing.T) {
	cfg := apptest.Config(t, reloadV1)
	apptest.WithOperator(&cfg)
	a := apptest.Start(t, cfg, app.Options{})
	dir := cfg.Playbooks[0]
	file := filepath.Join(dir, "playbooks.yaml")
	first := getPlaybooks(t, a)
	if len(first.Playbooks) != 1 || first.Playbooks[0].Name != "notify" || first.Playbooks[0].File != file || first.Playbooks[0].Hash == "" {
		t.Fatalf("GET /api/v1/playbooks = %+v", first)
	}

	t.Run("an invalid set is rejected and the old one stays", func(t *testing.T) {
		bad := strings.Replace(reloadV1, "webhook.notify", "webhook.nope", 1) + "    retries: -1\n"
		if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		code, body := apptest.PostAs(t, a.URL()+"/api/v1/playbooks/reload", apptest.OperatorToken, nil)
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("reload = %d %s", code, body)
		}
		var res app.ReloadResult
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		if res.OK || len(res.Problems) != 2 || res.Problems[0].File != file || res.Problems[0].Line != 5 ||
			res.Problems[0].Path != "steps[0].action" || res.Problems[1].Path != "steps[0].retries" {
			t.Errorf("reload result = %s", body)
		}
		if got := getPlaybooks(t, a); got.Playbooks[0].Hash != first.Playbooks[0].Hash {
			t.Errorf("the old set was replaced: %+v", got)
		}
		if set := a.Engine.Playbooks(); set.Len() != 1 {
			t.Errorf("engine has %d playbooks", set.Len())
		}
		found := false
		for _, r := range reloadRecords(t, a) {
			if r.Outcome == "rejected" && r.Actor == "api" && strings.Contains(strings.Join(anyStrings(r.Data["errors"]), "\n"), `unknown action "webhook.nope"`) {
				found = true
			}
		}
		if !found {
			t.Errorf("no rejected reload audit record: %+v", reloadRecords(t, a))
		}
	})

	t.Run("a change in the directory is picked up", func(t *testing.T) {
		v2 := strings.Replace(reloadV1, "/v1", "/v2", 1) + "---\nname: second\nmatch: 'false'\nsteps: [{action: webhook.notify, with: {url: 'http://127.0.0.1:1/x'}}]\n"
		if err := os.WriteFile(file, []byte(v2), 0o600); err != nil {
			t.Fatal(err)
		}
		apptest.WaitFor(t, 10*time.Second, "the watcher to load two playbooks", func() bool {
			return len(getPlaybooks(t, a).Playbooks) == 2
		})
		got := getPlaybooks(t, a)
		if got.Playbooks[0].Hash == first.Playbooks[0].Hash {
			t.Error("the changed playbook kept its hash")
		}
		apptest.WaitFor(t, 5*time.Second, "an ok reload record", func() bool {
			for _, r := range reloadRecords(t, a) {
				if r.Outcome == "ok" && r.Actor == "file change" && strings.Contains(r.Message, "1 added, 0 removed, 1 changed") {
					return true
				}
			}
			return false
		})
	})

	t.Run("SIGHUP reloads", func(t *testing.T) {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		apptest.WaitFor(t, 10*time.Second, "a SIGHUP reload record", func() bool {
			for _, r := range reloadRecords(t, a) {
				if r.Actor == "SIGHUP" && r.Outcome == "ok" {
					return true
				}
			}
			return false
		})
	})

	t.Run("an empty directory is refused", func(t *testing.T) {
		if err := os.Rename(file, file+".off"); err != nil {
			t.Fatal(err)
		}
		code, body := apptest.PostAs(t, a.URL()+"/api/v1/playbooks/reload", apptest.OperatorToken, nil)
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "no playbooks found in") {
			t.Errorf("reload of an empty directory = %d %s", code, body)
		}
		if n := a.Engine.Playbooks().Len(); n != 2 {
			t.Errorf("engine has %d playbooks, want the 2 loaded before", n)
		}
		if err := os.Rename(file+".off", file); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the API reports what changed", func(t *testing.T) {
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "other.yml"), []byte(reloadV1), 0o600); err != nil {
			t.Fatal(err)
		}
		code, body := apptest.PostAs(t, a.URL()+"/api/v1/playbooks/reload", apptest.OperatorToken, nil)
		var res app.ReloadResult
		_ = json.Unmarshal(body, &res)
		// The watcher may have swapped the set first; then the API finds it unchanged.
		if code != http.StatusOK || !res.OK || res.Playbooks != 1 {
			t.Fatalf("reload = %d %s", code, body)
		}
		apptest.WaitFor(t, 5*time.Second, "other.yml to be loaded", func() bool {
			got := getPlaybooks(t, a)
			return len(got.Playbooks) == 1 && got.Playbooks[0].File == filepath.Join(dir, "other.yml")
		})
	})
}

func anyStrings(v any) []string {
	var out []string
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
