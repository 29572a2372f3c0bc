package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
)

// TestOnPauseHoldThroughServer: with guards.on_pause: hold, alerts that
// arrive while paused are held, not refused, and run when POST
// /api/v1/resume lifts the pause.
func TestOnPauseHoldThroughServer(t *testing.T) {
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(stormPlaybook, sink.URL))
	apptest.WithOperator(&cfg)
	cfg.Guards.OnPause = "hold"
	a := apptest.Start(t, cfg, app.Options{})
	if code, body := apiPost(t, a.URL()+"/api/v1/pause", apptest.OperatorToken, `{"reason": "incident 42"}`); code != http.StatusOK {
		t.Fatalf("pause = %d %s", code, body)
	}
	now := time.Now()
	postAll(t, a.URL()+"/hooks/alertmanager", 2, [][]byte{crashLooping(1, "cart", now, "firing"), crashLooping(2, "api", now, "firing")})
	waitProcessed(t, a, 2, 10*time.Second)
	if got := len(sink.Requests()); got != 0 {
		t.Fatalf("runs while paused = %d", got)
	}
	if held := auditRecords(t, a, audit.Query{Kind: audit.KindStepHeld}); len(held) != 2 {
		t.Fatalf("step.held records = %d, want 2", len(held))
	}
	if code, body := apiPost(t, a.URL()+"/api/v1/resume", apptest.OperatorToken, ""); code != http.StatusOK {
		t.Fatalf("resume = %d %s", code, body)
	}
	apptest.WaitFor(t, 10*time.Second, "the two held steps run", func() bool { return len(sink.Requests()) >= 2 })
	if got := len(sink.Requests()); got != 2 {
		t.Errorf("runs after resume = %d, want 2", got)
	}
}

func TestOnPauseConfigError(t *testing.T) {
	cfg := apptest.Config(t, fmt.Sprintf(stormPlaybook, "http://127.0.0.1:9"))
	cfg.Guards.OnPause = "queue"
	a, err := app.Start(context.Background(), cfg, slog.New(slog.DiscardHandler), app.Options{})
	if err == nil {
		_ = a.Close()
		t.Fatal("Start succeeded")
	}
	if !strings.Contains(err.Error(), `guards.on_pause: must be drop or hold, got "queue"`) {
		t.Fatalf("Start = %v", err)
	}
}
