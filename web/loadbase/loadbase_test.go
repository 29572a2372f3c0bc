package loadbase_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/web/loadbase"
)

func TestHandler(t *testing.T) {
	var got [][]byte
	ok := func(b []byte) error { got = append(got, b); return nil }
	fail := func([]byte) error { return errors.New("disk on fire") }
	for _, tc := range []struct {
		name     string
		then     func([]byte) error
		body     string
		status   int
		accepted int
		errPart  string
	}{
		{"one event", nil, `{"rule":"x"}`, http.StatusAccepted, 1, ""},
		{"alerts counted", ok, `{"alerts":[{},{},{}]}`, http.StatusAccepted, 3, ""},
		{"not json", ok, `{"alerts":`, http.StatusBadRequest, 0, "decode body"},
		{"durability fails", fail, `{}`, http.StatusServiceUnavailable, 0, "disk on fire"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(loadbase.Handler(tc.then))
			defer srv.Close()
			resp, err := http.Post(srv.URL+"/hooks/alertmanager", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct {
				Accepted int    `json:"accepted"`
				Error    string `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatalf("answer is not JSON: %v", err)
			}
			if resp.StatusCode != tc.status || out.Accepted != tc.accepted || !strings.Contains(out.Error, tc.errPart) {
				t.Fatalf("got %d %+v, want %d accepted %d error containing %q", resp.StatusCode, out, tc.status, tc.accepted, tc.errPart)
			}
		})
	}
	if len(got) != 1 || string(got[0]) != `{"alerts":[{},{},{}]}` {
		t.Fatalf("then saw %q, want the one accepted body", got)
	}
}
