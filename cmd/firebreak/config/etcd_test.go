package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/config"
)

// TestEtcdConfig resolves store.etcd and cluster.node: the password through
// each of its three spellings (the one secret resolver), the default
// prefix, and the node name defaulting to the hostname.
func TestEtcdConfig(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "etcd-password")
	if err := os.WriteFile(pwFile, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FB_TEST_ETCD_PASSWORD", "from-the-env")
	ca, err := filepath.Abs(filepath.Join(testdata, "secrets", "clients-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, password, node, wantPW, wantNode string
	}{
		{"literal", "password: literal-pw", "node: fb-0", "literal-pw", "fb-0"},
		{"env", "password_env: FB_TEST_ETCD_PASSWORD", "", "from-the-env", host},
		{"file", "password_file: " + pwFile, "node: fb-2.example", "from-a-file", "fb-2.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := "store:\n  etcd:\n    endpoints: [https://etcd-0:2379, https://etcd-1:2379]\n" +
				"    tls: {ca_file: " + ca + "}\n    username: firebreak\n    " + tc.password + "\ncluster: {" + tc.node + "}\n"
			path := filepath.Join(t.TempDir(), "firebreak.yaml")
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, res, err := config.Load(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.Clustered() || res.Etcd == nil {
				t.Fatalf("not clustered: %+v", res.Etcd)
			}
			e := res.Etcd
			if e.Password != tc.wantPW || e.Username != "firebreak" || e.Prefix != "/firebreak" || e.CAFile != ca ||
				strings.Join(e.Endpoints, " ") != "https://etcd-0:2379 https://etcd-1:2379" {
				t.Errorf("etcd = %+v", e.Redacted())
			}
			if res.Node != tc.wantNode {
				t.Errorf("node = %q, want %q", res.Node, tc.wantNode)
			}
			if r := e.Redacted(); strings.Contains(strings.Join([]string{r.Password, r.Username}, " "), tc.wantPW) {
				t.Errorf("Redacted keeps the password: %+v", r)
			}
		})
	}

	// Single-node mode: no etcd, no node.
	_, res, err := config.Load(filepath.Join(testdata, "good.yaml"), nil)
	if err == nil && (res.Etcd != nil || res.Node != "") {
		t.Errorf("single node resolved etcd %+v node %q", res.Etcd, res.Node)
	}
}

// store.write_ahead_log is for the bbolt file: with store.etcd it is an
// error at its line, not silently ignored.
func TestWriteAheadLogIsSingleNodeOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "firebreak.yaml")
	body := "store:\n  write_ahead_log: true\n  etcd:\n    endpoints: [http://127.0.0.1:2379]\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := config.Load(path, nil)
	if err == nil || !strings.Contains(err.Error(), "store.write_ahead_log") || !strings.Contains(err.Error(), path+":2:") {
		t.Fatalf("write_ahead_log with etcd: %v; want an error naming the key at line 2", err)
	}
	if err := os.WriteFile(path, []byte("store:\n  write_ahead_log: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(path, nil)
	if err != nil || !cfg.Store.WriteAheadLog {
		t.Fatalf("write_ahead_log alone: %v, %v", cfg.Store.WriteAheadLog, err)
	}
}
