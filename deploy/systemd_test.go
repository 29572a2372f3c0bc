package deploy_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var unitDir = filepath.Join(root, "deploy", "systemd")

// unit is a parsed unit file: per section, each key's values in order.
type unit map[string]map[string][]string

// parseUnit reads a systemd unit or drop-in (comments, sections,
// key=value; no line continuations, which these files do not use).
func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
			continue
		case strings.HasSuffix(line, "\\"):
			t.Fatalf("%s:%d: continuation lines are not supported here", path, n)
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s:%d: not key=value in a section: %q", path, n, line)
		}
		u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
	}
	return u
}

// last is the effective value of a single-valued key.
func (u unit) last(section, key string) (string, bool) {
	v, ok := u[section][key]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// TestSystemdUnit checks the unit's sandbox whether or not systemd is here:
// a dynamic user with a state directory, the whole file system read-only,
// no new privileges, no capability at all, and CAP_NET_ADMIN only in the
// firewall drop-in.
func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, filepath.Join(unitDir, "firebreak.service"))
	for key, want := range map[string]string{
		"DynamicUser":             "yes",
		"StateDirectory":          "firebreak",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"NoNewPrivileges":         "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"RestrictSUIDSGID":        "yes",
		"SystemCallArchitectures": "native",
		"Type":                    "simple",
	} {
		if got, ok := u.last("Service", key); !ok || got != want {
			t.Errorf("[Service] %s = %q (set: %v), want %q", key, got, ok, want)
		}
	}
	exec, _ := u.last("Service", "ExecStart")
	state, _ := u.last("Service", "StateDirectory")
	if !strings.Contains(exec, " serve ") || !strings.Contains(exec, "--data-dir=/var/lib/"+state) || !strings.Contains(exec, "--config=/etc/firebreak/") {
		t.Errorf("ExecStart = %q: want serve with --config in /etc/firebreak and --data-dir in the StateDirectory", exec)
	}
	for k, vs := range u["Service"] {
		for _, v := range vs {
			if strings.Contains(v, "CAP_") {
				t.Errorf("the main unit grants %s=%s; capabilities belong in a drop-in", k, v)
			}
		}
	}
	if got, _ := u.last("Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("WantedBy = %q", got)
	}

	d := parseUnit(t, filepath.Join(unitDir, "firebreak.service.d", "firewall.conf"))
	if len(d) != 1 || d["Service"] == nil {
		t.Fatalf("drop-in sections = %v, want only [Service]", d)
	}
	want := map[string]string{"CapabilityBoundingSet": "CAP_NET_ADMIN", "AmbientCapabilities": "CAP_NET_ADMIN", "RestrictAddressFamilies": "AF_NETLINK"}
	for k := range d["Service"] {
		if _, ok := want[k]; !ok {
			t.Errorf("the drop-in sets %s; it should only add CAP_NET_ADMIN and netlink", k)
		}
	}
	for k, v := range want {
		if got, _ := d.last("Service", k); got != v {
			t.Errorf("drop-in %s = %q, want %q", k, got, v)
		}
	}
}

// TestSystemdAnalyze runs systemd-analyze verify on the unit with its
// drop-in (any warning fails: verify exits 0 on unknown keys and bad
// values), then its offline security review: the exposure stays low and
// CAP_NET_ADMIN appears only with the drop-in. Without systemd the parse
// test above is the check, as the issue asks, so this one only skips.
func TestSystemdAnalyze(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("skipping: systemd-analyze is not installed; TestSystemdUnit checks the unit's directives")
	}
	// verify wants ExecStart's binary to exist: point it at this test binary.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(unitDir, "firebreak.service"))
	if err != nil {
		t.Fatal(err)
	}
	dropin, err := os.ReadFile(filepath.Join(unitDir, "firebreak.service.d", "firewall.conf"))
	if err != nil {
		t.Fatal(err)
	}
	setup := func(withDropin bool) string {
		dir := t.TempDir()
		text := strings.Replace(string(body), "ExecStart=/usr/local/bin/firebreak ", "ExecStart="+self+" ", 1)
		if text == string(body) {
			t.Fatal("ExecStart does not start /usr/local/bin/firebreak")
		}
		if err := os.WriteFile(filepath.Join(dir, "firebreak.service"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if withDropin {
			if err := os.MkdirAll(filepath.Join(dir, "firebreak.service.d"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "firebreak.service.d", "firewall.conf"), dropin, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	analyze := func(dir string, args ...string) string {
		cmd := exec.Command(sa, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	dir := setup(true)
	if out := analyze(dir, "verify", "--man=no", filepath.Join(dir, "firebreak.service")); strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify warns:\n%s", out)
	}
	exposure := regexp.MustCompile(`Overall exposure level for firebreak.service: ([0-9.]+)`)
	for _, withDropin := range []bool{false, true} {
		out := analyze(setup(withDropin), "security", "--offline=yes", "--no-pager", "firebreak.service")
		m := exposure.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no exposure level in:\n%s", out)
		}
		level, _ := strconv.ParseFloat(m[1], 64)
		t.Logf("drop-in %v: exposure %.1f", withDropin, level)
		if level > 2.5 {
			t.Errorf("drop-in %v: exposure %.1f, want at most 2.5:\n%s", withDropin, level, out)
		}
		netAdmin := regexp.MustCompile(`✗ CapabilityBoundingSet=~CAP_NET_ADMIN`).MatchString(out)
		if netAdmin != withDropin {
			t.Errorf("drop-in %v: CAP_NET_ADMIN granted = %v", withDropin, netAdmin)
		}
	}
}
