package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
)

// TestOperatorEndpointsNeedTheToken: with guards.api_token set, reload and
// replay (like pause and breaker reset) refuse requests without it.
func TestOperatorEndpointsNeedTheToken(t *testing.T) {
	cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, "http://127.0.0.1:1"))
	cfg.Guards.APIToken = "operator-token-0123456789"
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	for _, path := range []string{"/api/v1/playbooks/reload", "/api/v1/replay"} {
		for _, tc := range []struct {
			auth string
			want int
		}{{"", http.StatusUnauthorized}, {"Bearer wrong", http.StatusUnauthorized}, {"Bearer operator-token-0123456789", http.StatusOK}} {
			req, _ := http.NewRequest(http.MethodPost, a.URL()+path, strings.NewReader(`{"since":"1h"}`))
			req.Header.Set("Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("POST %s with %q = %d, want %d", path, tc.auth, resp.StatusCode, tc.want)
			}
		}
	}
}
