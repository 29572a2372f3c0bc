package dashboard

import "testing"

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
