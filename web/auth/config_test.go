package auth

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestConfigYAML decodes the documented config shape strictly, as the
// config loader does.
func TestConfigYAML(t *testing.T) {
	src := `
type: grafana
secret_env: GRAFANA_WEBHOOK_SECRET
header: X-Grafana-Alerting-Signature
timestamp_header: X-Grafana-Alerting-Signature-Timestamp
require_timestamp: true
tolerance: 2m
replay_cache_size: 1000
allow_cidrs: [10.0.0.0/8, 192.0.2.7]
`
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	var got Config
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Type: TypeGrafana, SecretEnv: "GRAFANA_WEBHOOK_SECRET",
		Header: DefaultGrafanaHeader, TimestampHeader: DefaultGrafanaTimestampHeader, RequireTimestamp: true,
		Tolerance: 2 * time.Minute, ReplayCacheSize: 1000, AllowCIDRs: []string{"10.0.0.0/8", "192.0.2.7"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// The config loader resolves secret_env and hands New the value.
	if _, err := New(got); !errors.Is(err, ErrUnresolvedSecret) {
		t.Errorf("New with secret_env = %v, want ErrUnresolvedSecret", err)
	}
	got.Secret, got.SecretEnv = "s", ""
	if _, err := New(got); err != nil {
		t.Errorf("New: %v", err)
	}
}
