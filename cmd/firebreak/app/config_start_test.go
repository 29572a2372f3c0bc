package app_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/cmd/firebreak/config"
)

// TestBadConfigOpensNothing: the configuration is validated as a whole
// before any side effect. A bad value in any section (here guards, sources
// and approvals at once) fails Start with every problem, and the database
// file is never created.
func TestBadConfigOpensNothing(t *testing.T) {
	cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, "http://127.0.0.1:1"))
	cfg.Guards.MaxActions = "many/1m"
	cfg.Sources = map[string]app.SourceConfig{"myapp": {Insecure: true}}
	cfg.Approvals.AllowedUsers = []string{"@alice"}
	a, err := app.Start(context.Background(), cfg, slogDiscard(), app.Options{})
	if err == nil {
		_ = a.Close()
		t.Fatal("started with a bad configuration")
	}
	var ps config.Problems
	if !errors.As(err, &ps) || len(ps) != 3 {
		t.Fatalf("Start = %v, want the three problems at once", err)
	}
	for _, want := range []string{"guards.max_actions: ", "sources.myapp: not a built-in source", `approvals.allowed_users: "@alice"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start = %v, want it to contain %q", err, want)
		}
	}
	if _, err := os.Stat(cfg.DBPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the database file exists after a refused start (stat: %v)", err)
	}
}
