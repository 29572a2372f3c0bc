package sources

import (
	"errors"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/engine/event"
)

func mustGeneric(t *testing.T, name string, cfg GenericConfig) *Generic {
	t.Helper()
	g, err := NewGeneric(name, cfg)
	if err != nil {
		t.Fatalf("NewGeneric: %v", err)
	}
	return g
}

func TestGeneric(t *testing.T) {
	// A Falco body through the generic decoder, as a user would map it.
	falcoLike := mustGeneric(t, "falco-generic", GenericConfig{
		ID:          "body.uuid",
		Name:        "body.rule",
		Severity:    `body.priority in ["Critical", "Alert", "Emergency"] ? "critical" : "warning"`,
		StartsAt:    "body.time",
		Labels:      map[string]string{"source": "body.source", "missing": "body.nope"},
		Annotations: map[string]string{"output": "body.output"},
		Fields:      map[string]string{"tag_count": "len(body.tags)"},
		Namespace:   `body.output_fields["k8s.ns.name"]`,
		Pod:         `body.output_fields["k8s.pod.name"]`,
		Host:        "body.hostname",
		SrcIP:       `body.output_fields["fd.cip"]`,
		DstIP:       `body.output_fields["fd.sip"]`,
		User:        `body.output_fields["user.name"]`,
	})
	items := mustGeneric(t, "findings", GenericConfig{
		Items:      "body.findings",
		ID:         "item.id",
		Name:       "item.title",
		Severity:   "item.level",
		Status:     "item.open",
		LabelsFrom: "item.tags",
		Host:       "item.asset?.host ?? body.default_host",
	})
	noID := mustGeneric(t, "noid", GenericConfig{Name: `"constant"`, Status: "body.state"})
	noIDItems := mustGeneric(t, "noiditems", GenericConfig{Items: "body", Name: "item.n"})
	strict := mustGeneric(t, "strict", GenericConfig{Name: "body.alert.name"})

	t.Run("falco through generic", func(t *testing.T) {
		runCases(t, falcoLike, []decodeCase{
			{name: "sample", file: "falco-falcosidekick-webhook.json",
				want: []want{{ID: "falco-generic:3f1c6b0e-8a2d-4b7e-9c1a-5d2e7f9a0b14", Status: "firing", Name: "Unexpected outbound connection destination", Severity: "warning", Namespace: "shop", Pod: "cart-api-6d8f9c7b5-x2lkq", Host: "worker-07", SrcIP: "10.42.3.17", DstIP: "198.51.100.23", User: "root", StartsAt: "2025-03-14T08:41:17.312645021Z"}},
				check: func(t *testing.T, evs []event.Event) {
					e := evs[0]
					if e.Labels["source"] != "syscall" || len(e.Labels) != 1 {
						t.Errorf("labels %v", e.Labels)
					}
					field(t, e, "tag_count", 4)
					field(t, e, "priority", "Notice") // the body is under fields
					if e.Annotations["output"] == "" {
						t.Error("annotation lost")
					}
				}},
		})
	})
	t.Run("items", func(t *testing.T) {
		body := `{"default_host":"h0","findings":[
			{"id":1,"title":"A","level":"HIGH","open":true,"tags":{"team":"sec","n":2},"asset":{"host":"h1"}},
			{"id":"2","title":"B","level":"low","open":false}]}`
		runCases(t, items, []decodeCase{
			{name: "two findings", body: body,
				want: []want{
					{ID: "findings:1", Status: "firing", Name: "A", Severity: "high", Host: "h1", StartsAt: "2025-03-14T10:00:00Z"},
					{ID: "findings:2:resolved", Status: "resolved", Name: "B", Severity: "info", Host: "h0", StartsAt: "2025-03-14T10:00:00Z"},
				},
				check: func(t *testing.T, evs []event.Event) {
					if evs[0].Labels["team"] != "sec" || evs[0].Labels["n"] != "2" {
						t.Errorf("labels %v", evs[0].Labels)
					}
					field(t, evs[0], "title", "A") // the item is under fields
				}},
			{name: "no items", body: `{"findings":[]}`, want: []want{}},
			{name: "items not a list", body: `{"findings":{}}`, errField: "items"},
			{name: "item without title", body: `{"findings":[{"id":1}]}`, errField: "items[0].name"},
			{name: "item of the wrong shape", body: `{"findings":[1]}`, errField: "items[0].name"},
		})
	})
	t.Run("id falls back to the body hash", func(t *testing.T) {
		b := `{"state":"ok"}`
		runCases(t, noID, []decodeCase{
			{name: "resolved", body: b, want: []want{{ID: BodyHash("noid", []byte(b)) + ":resolved", Status: "resolved", Name: "constant", Severity: "info", StartsAt: "2025-03-14T10:00:00Z"}}},
			{name: "a path into an array", body: `[1,2]`, errField: "status"},
			{name: "not JSON", body: `{`, errField: "-"},
		})
		anyJSON := mustGeneric(t, "any", GenericConfig{Name: `"c"`})
		runCases(t, anyJSON, []decodeCase{
			{name: "any JSON", body: `[1,2]`, check: func(t *testing.T, evs []event.Event) { field(t, evs[0], "value", []any{int64(1), int64(2)}) }},
		})
		b2 := `[{"n":"x"},{"n":"y"}]`
		runCases(t, noIDItems, []decodeCase{
			{name: "per item", body: b2, want: []want{
				{ID: BodyHash("noiditems", []byte(b2)) + ":0", Status: "firing", Name: "x", Severity: "info", StartsAt: "2025-03-14T10:00:00Z"},
				{ID: BodyHash("noiditems", []byte(b2)) + ":1", Status: "firing", Name: "y", Severity: "info", StartsAt: "2025-03-14T10:00:00Z"},
			}},
		})
	})
	t.Run("strict about what it needs", func(t *testing.T) {
		runCases(t, strict, []decodeCase{
			{name: "present", body: `{"alert":{"name":"n"}}`, want: []want{{ID: BodyHash("strict", []byte(`{"alert":{"name":"n"}}`)), Status: "firing", Name: "n", Severity: "info", StartsAt: "2025-03-14T10:00:00Z"}}},
			{name: "nil in the path", body: `{}`, errField: "name"},
			{name: "empty name", body: `{"alert":{"name":""}}`, errField: "name"},
		})
	})
	t.Run("starts_at", func(t *testing.T) {
		g := mustGeneric(t, "t", GenericConfig{Name: `"n"`, StartsAt: "body.t"})
		runCases(t, g, []decodeCase{
			{name: "unix", body: `{"t":1741944000}`, want: []want{{ID: BodyHash("t", []byte(`{"t":1741944000}`)), Status: "firing", Name: "n", Severity: "info", StartsAt: "2025-03-14T09:20:00Z"}}},
			{name: "wazuh layout", body: `{"t":"2025-03-14T09:12:44.671+0000"}`, check: func(t *testing.T, evs []event.Event) {
				if evs[0].StartsAt.UTC().Format("15:04:05.000") != "09:12:44.671" {
					t.Errorf("StartsAt %v", evs[0].StartsAt)
				}
			}},
			{name: "not a time", body: `{"t":"soon"}`, errField: "starts_at"},
			{name: "an object", body: `{"t":{}}`, errField: "starts_at"},
		})
	})
}

func TestNewGenericRefuses(t *testing.T) {
	_, err := NewGeneric("bad", GenericConfig{
		ID:     "body.(",
		Labels: map[string]string{"a": "", "b": "nosuchvar"},
		Host:   "body.x +",
	})
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{`generic source "bad"`, "name: an expression is required", "id:", "labels.a: empty expression", "labels.b:", "unknown name nosuchvar", "host:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	if _, err := NewGeneric("", GenericConfig{Name: "body.x"}); err == nil || !strings.Contains(err.Error(), "name is required") {
		t.Errorf("empty source name: %v", err)
	}
	if _, err := NewGeneric("falco", GenericConfig{Name: "body.x"}); err == nil || !strings.Contains(err.Error(), "taken by a built-in") {
		t.Errorf("built-in name: %v", err)
	}
	var de *DecodeError
	if errors.As(err, &de) {
		t.Error("a config error is not a DecodeError")
	}
}
