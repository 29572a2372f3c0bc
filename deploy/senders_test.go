package deploy_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/web/auth"
	"sigs.k8s.io/yaml"
)

var sendersDir = filepath.Join(root, "deploy", "senders")

func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sendersDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func hookPath(t *testing.T, raw, want string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Path != want || (u.Scheme != "http" && u.Scheme != "https") {
		t.Errorf("url %q: want a http(s) URL with path %s (%v)", raw, want, err)
	}
}

// TestAlertmanagerSnippet: the plain Alertmanager config passes the real
// amtool and points at Firebreak's receiver with a token from a file.
func TestAlertmanagerSnippet(t *testing.T) {
	amtool := tool(t, "amtool", "apt-get install prometheus-alertmanager")
	out, err := exec.Command(amtool, "check-config", filepath.Join(sendersDir, "alertmanager.yml")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	var cfg struct {
		Receivers []struct {
			WebhookConfigs []struct {
				URL          string `json:"url"`
				SendResolved bool   `json:"send_resolved"`
				HTTPConfig   struct {
					Authorization struct {
						Credentials     string `json:"credentials"`
						CredentialsFile string `json:"credentials_file"`
					} `json:"authorization"`
				} `json:"http_config"`
			} `json:"webhook_configs"`
		} `json:"receivers"`
	}
	readYAML(t, "alertmanager.yml", &cfg)
	wc := cfg.Receivers[0].WebhookConfigs[0]
	hookPath(t, wc.URL, "/hooks/alertmanager")
	if !wc.SendResolved || wc.HTTPConfig.Authorization.CredentialsFile == "" || wc.HTTPConfig.Authorization.Credentials != "" {
		t.Errorf("webhook config = %+v: want send_resolved and a credentials_file", wc)
	}
}

// TestAlertmanagerConfigSnippet: the Prometheus Operator object routes to
// Firebreak with the token from a Secret. (Its CRD is not served by the
// bare test API server, so its shape is checked here.)
func TestAlertmanagerConfigSnippet(t *testing.T) {
	var obj struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			Route struct {
				Receiver string `json:"receiver"`
			} `json:"route"`
			Receivers []struct {
				Name           string `json:"name"`
				WebhookConfigs []struct {
					URL          string `json:"url"`
					SendResolved bool   `json:"sendResolved"`
					HTTPConfig   struct {
						Authorization struct {
							Type        string `json:"type"`
							Credentials struct {
								Name string `json:"name"`
								Key  string `json:"key"`
							} `json:"credentials"`
						} `json:"authorization"`
					} `json:"httpConfig"`
				} `json:"webhookConfigs"`
			} `json:"receivers"`
		} `json:"spec"`
	}
	readYAML(t, "alertmanagerconfig.yaml", &obj)
	if obj.APIVersion != "monitoring.coreos.com/v1alpha1" || obj.Kind != "AlertmanagerConfig" {
		t.Fatalf("object = %s %s", obj.APIVersion, obj.Kind)
	}
	r := obj.Spec.Receivers[0]
	if r.Name != obj.Spec.Route.Receiver {
		t.Errorf("route receiver %q is not the receiver %q", obj.Spec.Route.Receiver, r.Name)
	}
	wc := r.WebhookConfigs[0]
	hookPath(t, wc.URL, "/hooks/alertmanager")
	a := wc.HTTPConfig.Authorization
	if !wc.SendResolved || a.Type != "Bearer" || a.Credentials.Name == "" || a.Credentials.Key == "" {
		t.Errorf("webhook config = %+v", wc)
	}
}

// TestGrafanaSnippet: the contact point signs with the headers Firebreak's
// grafana auth checks, with the secret from Grafana's environment.
func TestGrafanaSnippet(t *testing.T) {
	var cp struct {
		ContactPoints []struct {
			Receivers []struct {
				Type     string `json:"type"`
				Settings struct {
					URL        string `json:"url"`
					HTTPMethod string `json:"httpMethod"`
					HMAC       struct {
						Secret          string `json:"secret"`
						Header          string `json:"header"`
						TimestampHeader string `json:"timestampHeader"`
					} `json:"hmacConfig"`
				} `json:"settings"`
			} `json:"receivers"`
		} `json:"contactPoints"`
	}
	readYAML(t, "grafana-contact-point.yaml", &cp)
	r := cp.ContactPoints[0].Receivers[0]
	hookPath(t, r.Settings.URL, "/hooks/grafana")
	h := r.Settings.HMAC
	if r.Type != "webhook" || h.Header != auth.DefaultGrafanaHeader || h.TimestampHeader != auth.DefaultGrafanaTimestampHeader {
		t.Errorf("contact point = %+v; want the headers %s and %s", r, auth.DefaultGrafanaHeader, auth.DefaultGrafanaTimestampHeader)
	}
	if !strings.HasPrefix(h.Secret, "$") {
		t.Errorf("hmacConfig.secret %q is inline; reference an environment variable", h.Secret)
	}
}

// TestFalcosidekickSnippet: the webhook output posts to /hooks/falco with a
// bearer token that is a variable, not a literal.
func TestFalcosidekickSnippet(t *testing.T) {
	var cfg struct {
		Webhook struct {
			Address       string            `json:"address"`
			Method        string            `json:"method"`
			CustomHeaders map[string]string `json:"customHeaders"`
		} `json:"webhook"`
	}
	readYAML(t, "falcosidekick.yaml", &cfg)
	hookPath(t, cfg.Webhook.Address, "/hooks/falco")
	if a := cfg.Webhook.CustomHeaders["Authorization"]; !strings.HasPrefix(a, "Bearer ${") || cfg.Webhook.Method != "POST" {
		t.Errorf("webhook = %+v", cfg.Webhook)
	}
}

// TestWazuhIntegration runs the Wazuh integration script, as integratord
// does (alert file, api_key, hook_url), against a capture server (its
// signature must be the HMAC-SHA256 of the exact body) and against a real
// Firebreak server on 127.0.0.1 with hmac auth, which accepts the alert;
// with a wrong secret Firebreak refuses it and the script fails without
// printing the secret.
func TestWazuhIntegration(t *testing.T) {
	tool(t, "python3", "apt-get install python3")
	sh := tool(t, "sh", "dash")
	script := filepath.Join(sendersDir, "wazuh", "custom-firebreak")
	alert := filepath.Join(root, "web", "sources", "testdata", "wazuh-alert.json")
	dir := t.TempDir()
	const secret = "wazuh-hmac-secret-7f3a"
	secretFile := filepath.Join(dir, "firebreak.secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	integrate := func(apiKey, hook string) (string, error) {
		out, err := exec.Command(sh, script, alert, apiKey, hook, "debug").CombinedOutput()
		return string(out), err
	}

	// The signature, checked independently of Firebreak.
	var gotSig, gotType string
	var gotBody []byte
	capture := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotSig, gotType = r.Header.Get("X-Hub-Signature-256"), r.Header.Get("Content-Type")
		gotBody, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer capture.Close()
	if out, err := integrate("file:"+secretFile, capture.URL+"/hooks/wazuh"); err != nil {
		t.Fatalf("integration against the capture server: %v\n%s", err, out)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(gotBody)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); gotSig != want || gotType != "application/json" {
		t.Errorf("signature %q (content type %q), want %q", gotSig, gotType, want)
	}
	var sent, orig map[string]any
	origBytes, _ := os.ReadFile(alert)
	if json.Unmarshal(gotBody, &sent) != nil || json.Unmarshal(origBytes, &orig) != nil || fmt.Sprint(sent) != fmt.Sprint(orig) {
		t.Errorf("the body sent is not the alert:\n%s", gotBody)
	}

	// A real Firebreak with the sources block the snippet documents.
	cfgPath := filepath.Join(dir, "firebreak.yaml")
	cfgYAML := fmt.Sprintf("listen: 127.0.0.1:0\ndata_dir: %s\nsources:\n  wazuh:\n    auth: { type: hmac, secret_file: %s }\n", filepath.Join(dir, "data"), secretFile)
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	a := apptest.Start(t, cfg, app.Options{})
	hook := a.URL() + "/hooks/wazuh"

	out, err := integrate("file:"+secretFile, hook)
	if err != nil || !strings.Contains(out, "202") || !strings.Contains(out, `"accepted":1`) {
		t.Fatalf("integration against Firebreak: %v\n%s", err, out)
	}
	id := "wazuh:" + orig["id"].(string)
	// The engine audits the event after the 202; wait for the record.
	var body []byte
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := http.Get(a.URL() + "/api/v1/audit?event_id=" + url.QueryEscape(id))
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"event.received"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event.received record for %s: %s %s", id, resp.Status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}

	out, err = integrate("not-the-secret", hook)
	if err == nil || !strings.Contains(out, "answered 401") {
		t.Errorf("wrong secret: %v\n%s", err, out)
	}
	if strings.Contains(out, "not-the-secret") || strings.Contains(out, secret) {
		t.Errorf("the script printed the secret:\n%s", out)
	}
}
