package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/outbound"
	"github.com/firebreak/firebreak/actions/webhook"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/playbooks"
)

// runStep loads a one-playbook set whose steps are webhook.notify with the
// given url and follow_redirects, renders step i against ev and runs it the
// way the engine does: the step is the request's Written.
func runStep(t *testing.T, a *webhook.Action, urls []string, follow bool, ev *event.Event) []error {
	t.Helper()
	reg := actions.NewRegistry()
	if err := reg.Register(a); err != nil {
		t.Fatal(err)
	}
	yaml := "name: p\nmatch: \"true\"\nsteps:\n"
	for _, u := range urls {
		yaml += fmt.Sprintf("  - action: webhook.notify\n    with: { url: %q, follow_redirects: %v }\n", u, follow)
	}
	set, err := playbooks.Parse(reg, "p.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	for i, st := range set.Playbooks[0].Steps {
		params, err := st.Render(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Validate(params, true); err != nil {
			t.Fatal(err)
		}
		_, err = a.Run(context.Background(), actions.Request{Params: params, Event: ev, Playbook: "p", Step: i, Attempt: 1, Written: st})
		errs = append(errs, err)
	}
	return errs
}

func TestTemplatedHostIsRefusedLiteralHostIsNot(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	ev := &event.Event{ID: "e", Name: "X", Status: "firing", Annotations: map[string]string{
		"callback": srv.URL + "/api/v1/pause",
		"host":     srv.Listener.Addr().String(),
		"path":     "from-event",
		"suffix":   ".0.0.1:" + srv.URL[len("http://127.0.0.1:"):],
	}}
	a := webhook.New(webhook.Config{})
	errs := runStep(t, a, []string{
		"{{ event.annotations.callback }}",                     // whole URL from the event
		"http://{{ event.annotations.host }}/x",                // host from the event
		srv.URL + "/relay",                                     // literal
		srv.URL + "/{{ event.annotations.path }}",              // literal host, templated path
		"http://127{{ event.annotations.suffix }}/x",           // the template could change the host
		"{{ 'http://' }}" + srv.Listener.Addr().String() + "/", // a template, even a constant one, is not literal text
	}, false, ev)
	want := []bool{true, true, false, false, true, true} // refused?
	for i, err := range errs {
		refused := errors.Is(err, outbound.ErrDestinationRefused)
		if refused != want[i] {
			t.Errorf("step %d: err %v, want refused=%v", i, err, want[i])
		}
		if refused {
			if !errors.Is(err, actions.ErrPermanent) {
				t.Errorf("step %d: a refusal must not be retried: %v", i, err)
			}
			if r := actions.FailureReason(err); r != "destination_refused" {
				t.Errorf("step %d: reason %q", i, r)
			}
		}
	}
	if len(rec.reqs) != 2 {
		t.Fatalf("the server got %d requests, want the 2 literal-host ones", len(rec.reqs))
	}
	if rec.reqs[0].URL.Path != "/relay" || rec.reqs[1].URL.Path != "/from-event" {
		t.Fatalf("paths %s, %s", rec.reqs[0].URL.Path, rec.reqs[1].URL.Path)
	}
}

func TestFollowRedirectsParam(t *testing.T) {
	target := &recorder{}
	tsrv := httptest.NewServer(target)
	defer tsrv.Close()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, tsrv.URL+"/api/v1/pause", http.StatusTemporaryRedirect)
	}))
	defer recv.Close()
	ev := &event.Event{ID: "e", Name: "X", Status: "firing"}

	errs := runStep(t, webhook.New(webhook.Config{}), []string{recv.URL + "/hook"}, false, ev)
	if errs[0] == nil || !errors.Is(errs[0], actions.ErrPermanent) || errors.Is(errs[0], outbound.ErrDestinationRefused) {
		t.Fatalf("without follow_redirects: %v, want a permanent failure naming the 307", errs[0])
	}
	errs = runStep(t, webhook.New(webhook.Config{}), []string{recv.URL + "/hook"}, true, ev)
	if actions.FailureReason(errs[0]) != "destination_refused" {
		t.Fatalf("redirect to loopback: %v, want destination_refused", errs[0])
	}
	if len(target.reqs) != 0 {
		t.Fatal("the redirect reached loopback")
	}
	p, err := outbound.New(outbound.Config{AllowCIDRs: []string{"127.0.0.1/32"}})
	if err != nil {
		t.Fatal(err)
	}
	errs = runStep(t, webhook.New(webhook.Config{Outbound: outbound.NewClient(p, nil)}), []string{recv.URL + "/hook"}, true, ev)
	if errs[0] != nil || len(target.reqs) != 1 {
		t.Fatalf("allow-listed redirect: %v, %d requests", errs[0], len(target.reqs))
	}
}
