package dashboard

import (
	"testing"
	"time"
)

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/approvals": "/approvals", "/events/a/b?x=1": "/events/a/b?x=1",
		"//evil.example/": "/", "/\\evil.example": "/", "https://evil.example": "/", "": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEventURL(t *testing.T) {
	for in, want := range map[string]string{
		"am:abc:firing":                          "/events/am:abc:firing",
		"azure:/subscriptions/x/alerts/y:firing": "/events/azure:/subscriptions/x/alerts/y:firing",
		"a b?c#d":                                "/events/a%20b%3Fc%23d",
	} {
		if got := eventURL(in); got != want {
			t.Errorf("eventURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEqualToken(t *testing.T) {
	if !equalToken("abc", "abc") || equalToken("abc", "abd") || equalToken("", "") || equalToken("abc", "") {
		t.Fatal("equalToken compares wrongly")
	}
}

// TestExpiresIn: the countdown never shows a past expiry as a future one.
func TestExpiresIn(t *testing.T) {
	now := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{now.Add(29*time.Minute + 55*time.Second + 300*time.Millisecond), "expires in 29m55s"},
		{now.Add(time.Second), "expires in 1s"},
		{now, "expired 0s ago"},
		{now.Add(-5 * time.Second), "expired 5s ago"},
	} {
		if got := expiresIn(now, tc.at); got != tc.want {
			t.Errorf("expiresIn(now, now%+v) = %q, want %q", tc.at.Sub(now), got, tc.want)
		}
	}
}

func TestResolvedSibling(t *testing.T) {
	for _, tc := range []struct {
		id, want string
		ok       bool
	}{
		{"am:0e5017ed:2026-12-07T08:24:06Z:firing", "am:0e5017ed:2026-12-07T08:24:06Z:resolved", true},
		{"azure:/subscriptions/x/alerts/y:firing", "azure:/subscriptions/x/alerts/y:resolved", true},
		{"am:0e5017ed:2026-12-07T08:24:06Z:resolved", "", false},
		{"falco:abc:0", "", false},
		{":firing", "", false},
	} {
		got, ok := resolvedSibling(tc.id)
		if got != tc.want || ok != tc.ok {
			t.Errorf("resolvedSibling(%q) = %q, %v; want %q, %v", tc.id, got, ok, tc.want, tc.ok)
		}
	}
}
