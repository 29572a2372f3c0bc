package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/store"
)

// cliCommands is every leaf command, and whether it takes positional
// arguments (validate and test take paths; show, retry and discard one id).
var cliCommands = []struct {
	args       []string
	positional bool
}{
	{[]string{"serve"}, false}, {[]string{"validate"}, true}, {[]string{"test"}, true},
	{[]string{"schema"}, false}, {[]string{"actions"}, false}, {[]string{"replay"}, false}, {[]string{"rbac"}, false},
	{[]string{"audit", "list"}, false}, {[]string{"audit", "show"}, true}, {[]string{"audit", "export"}, false},
	{[]string{"audit", "verify"}, false}, {[]string{"audit", "keygen"}, false},
	{[]string{"approvals", "list"}, false},
	{[]string{"dlq", "list"}, false}, {[]string{"dlq", "retry"}, true}, {[]string{"dlq", "discard"}, true},
	{[]string{"version"}, false},
}

// Every subcommand, and every group, answers --help, -h and a first
// argument "help" with its usage and exit 0, and does nothing else: no
// server starts, no key is written, nothing is read as a path or an id.
func TestHelpExitsZero(t *testing.T) {
	t.Chdir(t.TempDir()) // keygen's and the data dir's default paths
	cmds := [][]string{{"audit"}, {"approvals"}, {"dlq"}}
	for _, c := range cliCommands {
		cmds = append(cmds, c.args)
	}
	for _, c := range cmds {
		for _, h := range []string{"--help", "-h", "help"} {
			t.Run(strings.Join(c, " ")+" "+h, func(t *testing.T) {
				code, out, errOut := auditCLI(t, append(append([]string{}, c...), h)...)
				if code != 0 {
					t.Fatalf("exit %d, want 0\n%s%s", code, out, errOut)
				}
				if !strings.Contains(strings.ToLower(out+errOut), "usage") {
					t.Fatalf("no usage printed: %q %q", out, errOut)
				}
				if strings.Contains(out+errOut, "firebreak:") {
					t.Fatalf("help reported an error: %q %q", out, errOut)
				}
			})
		}
	}
	if left, _ := os.ReadDir("."); len(left) != 0 {
		t.Errorf("asking for help left files behind: %v", left)
	}
}

// A command that takes no positional argument refuses one, and a command
// that takes one id refuses a second, with an error naming it (exit 2).
func TestUnexpectedArgsRejected(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, c := range cliCommands {
		args := append([]string{}, c.args...)
		if c.positional {
			if c.args[0] != "audit" && c.args[0] != "dlq" {
				continue // validate and test take any number of paths
			}
			args = append(args, "some-id")
		}
		args = append(args, "stray")
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := auditCLI(t, args...)
			want := "firebreak " + strings.Join(c.args, " ") + ": unexpected argument \"stray\"\n"
			if code != 2 || !strings.HasPrefix(errOut, want) {
				t.Fatalf("exit %d, stderr %q, stdout %q; want 2 and %q", code, errOut, out, want)
			}
		})
	}
	if left, _ := os.ReadDir("."); len(left) != 0 {
		t.Errorf("a refused command left files behind: %v", left)
	}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// Every error message ends with a newline, so a shell prompt never lands
// on its last line.
func TestErrorsEndWithNewline(t *testing.T) {
	dir := t.TempDir()
	cases := [][]string{
		{"nope"},
		{"audit", "nope"},
		{"audit", "list", "--limit", "0"},
		{"audit", "list", "--no-such-flag"},
		{"audit", "list", "--since", "yesterday-ish"},
		{"audit", "list", "--data-dir", filepath.Join(dir, "missing")},
		{"audit", "list", "--addr", deadAddr(t)},
		{"audit", "show"},
		{"audit", "export", "--format", "csv"},
		{"audit", "verify", "--public-key", filepath.Join(dir, "missing.pub")},
		{"audit", "verify", "--witness", filepath.Join(dir, "w.jsonl")},
		{"approvals", "list", "--status", "bogus"},
		{"approvals", "nope"},
		{"dlq", "nope"},
		{"dlq", "discard", "abc"},
		{"dlq", "list", "--addr", deadAddr(t)},
		{"validate"},
		{"replay", "--since", "soon"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c, " "), func(t *testing.T) {
			code, _, errOut := auditCLI(t, c...)
			if code == 0 {
				t.Fatalf("exit 0, want a failure")
			}
			if errOut == "" || !strings.HasSuffix(errOut, "\n") {
				t.Fatalf("stderr %q does not end with a newline", errOut)
			}
		})
	}
}

// An explicit --addr asks that server even when a readable file is at the
// default place; an explicit --data-dir reads that file and never falls
// back to a server; with neither, the file at the default place is read.
func TestExplicitLocationFlags(t *testing.T) {
	// A closed database in ./data of the working directory, with one record.
	wd := t.TempDir()
	t.Chdir(wd)
	db, err := store.Open(filepath.Join(wd, "data", "firebreak.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Audit(context.Background(), audit.Record{Kind: audit.KindReceived, EventID: "from-the-file"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// A running server holding another file, with another record.
	cfg := apptest.Config(t, "")
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	if err := a.DB.Audit(context.Background(), audit.Record{Kind: audit.KindReceived, EventID: "from-the-server"}); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := auditCLI(t, "audit", "list", "--addr", a.Addr())
	if code != 0 || !strings.Contains(out, "from-the-server") || strings.Contains(out, "from-the-file") {
		t.Fatalf("--addr: exit %d, %q %q; want the server's records", code, out, errOut)
	}
	code, out, errOut = auditCLI(t, "audit", "list")
	if code != 0 || !strings.Contains(out, "from-the-file") {
		t.Fatalf("neither flag: exit %d, %q %q; want ./data's records", code, out, errOut)
	}
	code, _, errOut = auditCLI(t, "audit", "list", "--data-dir", cfg.DataDir)
	if code != 1 || !strings.Contains(errOut, "held by a running server: pass --addr to ask it") {
		t.Fatalf("--data-dir of a held file: exit %d, %q; want a refusal naming --addr", code, errOut)
	}
	// Both: the file, and the named server when a server holds it.
	code, out, errOut = auditCLI(t, "audit", "list", "--data-dir", cfg.DataDir, "--addr", a.Addr())
	if code != 0 || !strings.Contains(out, "from-the-server") {
		t.Fatalf("both flags: exit %d, %q %q", code, out, errOut)
	}
	// The same rules hold for every reading command.
	for _, args := range [][]string{
		{"audit", "verify", "--data-dir", cfg.DataDir},
		{"audit", "show", "x", "--data-dir", cfg.DataDir},
		{"approvals", "list", "--data-dir", cfg.DataDir},
		{"replay", "--data-dir", cfg.DataDir},
	} {
		if code, _, errOut := auditCLI(t, args...); code != 1 || !strings.Contains(errOut, "pass --addr") {
			t.Errorf("%v: exit %d, %q; want a refusal naming --addr", args, code, errOut)
		}
	}
	if code, out, errOut := auditCLI(t, "audit", "verify", "--addr", a.Addr()); code != 0 || !strings.Contains(out, "intact: 1 records") {
		t.Errorf("verify --addr: exit %d, %q %q", code, out, errOut)
	}
}
