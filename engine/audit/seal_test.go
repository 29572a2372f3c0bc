package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestSealIsHashThenMarshal: the stored form stays sha256(body) ‖ body with
// body exactly json.Marshal's encoding (HTML escaped, no newline), for
// small records and for ones larger than Seal's first buffer, so files
// written before keep verifying and new ones read the same.
func TestSealIsHashThenMarshal(t *testing.T) {
	recs := []Record{
		{},
		{Seq: 7, Kind: KindReceived, EventID: "am:1", Prev: strings.Repeat("0", 64), Time: time.Date(2026, 12, 7, 12, 0, 0, 5, time.UTC),
			Message: "a <b> & c \u2028 d", Data: map[string]any{"labels": map[string]string{"z": "1", "a": "<&>"}, "n": 1.5, "raw": json.RawMessage(` {"x": [1, 2]} `)}},
		{Kind: KindStepDryRun, Message: strings.Repeat("long message ", 200), Data: map[string]any{"big": strings.Repeat("x", 3000)}},
	}
	for i := range recs {
		got, err := Seal(&recs[i])
		if err != nil {
			t.Fatal(err)
		}
		body, err := json.Marshal(&recs[i])
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		if want := append(sum[:], body...); !bytes.Equal(got, want) {
			t.Errorf("record %d: Seal = %q\nwant %q", i, got, want)
		}
	}
}

// TestSealReportsEncodingErrors: a value JSON cannot encode is an error
// naming the record's kind, not a partial record.
func TestSealReportsEncodingErrors(t *testing.T) {
	_, err := Seal(&Record{Kind: KindReceived, Data: map[string]any{"f": func() {}}})
	if err == nil || !strings.Contains(err.Error(), string(KindReceived)) {
		t.Fatalf("Seal of an unencodable record: %v", err)
	}
}
