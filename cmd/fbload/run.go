package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// shadowPlaybook matches every event and plans one step without executing
// it, so Firebreak accepts, matches, plans, guards and audits each event.
const shadowPlaybook = `name: bench-shadow
description: fbload's playbook, matching every event in shadow mode.
match: "true"
mode: shadow
steps:
  - action: webhook.notify
    with: { url: "http://127.0.0.1:9/fbload" }
`

// options are run's flags.
type options struct {
	firebreak string
	clients   []int
	duration  time.Duration
	maxEvents int64
	rounds    int
	drainMax  time.Duration
	dir       string
	workers   int
}

func parseRunFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	clients := fs.String("clients", "16,64", "comma-separated numbers of concurrent clients")
	fs.StringVar(&o.firebreak, "firebreak", "./firebreak", "the firebreak binary to serve")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "longest load of one target in one row")
	fs.Int64Var(&o.maxEvents, "max-events", 10000, "most events posted to one target in one row")
	fs.IntVar(&o.rounds, "rounds", 1, "times every row is repeated, the targets interleaved")
	fs.DurationVar(&o.drainMax, "drain-timeout", 5*time.Minute, "longest wait for Firebreak's inbox to drain after a load")
	fs.IntVar(&o.workers, "workers", 0, "Firebreak's workers setting (0: its default)")
	fs.StringVar(&o.dir, "dir", "", "directory for Firebreak's data and the bound's log (default: a new temporary directory, removed after)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.clients, err = parseInts(*clients); err != nil {
		return o, fmt.Errorf("-clients: %w", err)
	}
	if o.duration <= 0 || o.maxEvents <= 0 || o.rounds <= 0 || o.workers < 0 {
		return o, errors.New("-duration, -max-events and -rounds must be positive, -workers not negative")
	}
	return o, nil
}

// parseInts parses "16,64".
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// target is one server under load.
type target struct {
	name string
	base string // http://127.0.0.1:PORT
	cmd  *exec.Cmd
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	return runCommand(args, stdout, stderr, parseRunFlags, runBench)
}

// runCommand is the shape of every fbload subcommand: parse the flags
// (exit 2 on a bad one or -h, which prints only the usage), then run until done or
// interrupted (exit 1 on an error).
func runCommand[O any](args []string, stdout, stderr io.Writer,
	parse func([]string, io.Writer) (O, error),
	run func(context.Context, O, io.Writer, io.Writer) error) int {
	o, err := parse(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "fbload:", err)
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "fbload:", err)
		return 1
	}
	return 0
}

func runBench(ctx context.Context, o options, stdout, stderr io.Writer) error {
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "fbload-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fb, err := startFirebreak(ctx, o.firebreak, filepath.Join(dir, "firebreak"), o.workers, "", shadowPlaybook, stderr)
	if err != nil {
		return err
	}
	defer stopTarget(fb)
	bare, err := startHelper(ctx, "bare", self, "serve", "-mode", "bare")
	if err != nil {
		return err
	}
	defer stopTarget(bare)
	bound, err := startHelper(ctx, "bound", self, "serve", "-mode", "bound", "-dir", dir)
	if err != nil {
		return err
	}
	defer stopTarget(bound)

	nonce := make([]byte, 3)
	_, _ = rand.Read(nonce)
	runID := hex.EncodeToString(nonce)
	var next atomic.Int64
	var rows []row
	for _, b := range bodies {
		for _, c := range o.clients {
			rows = append(rows, row{body: b.name, clients: c})
		}
	}
	fmt.Fprintf(stderr, "fbload: %d rows × %d round(s), at most %s or %d events per target\n", len(rows), o.rounds, o.duration, o.maxEvents)
	for round := range o.rounds {
		i := 0
		for _, b := range bodies {
			for _, c := range o.clients {
				r := &rows[i]
				i++
				// Interleaved: every target once per row per round, the
				// order rotated by round so none always runs first.
				ts := []*target{bare, bound, fb}
				for k := range ts {
					t := ts[(k+round)%len(ts)]
					if err := ctx.Err(); err != nil {
						return err
					}
					m, err := measure(ctx, t, t == fb, o, b, c, runID, &next)
					if err != nil {
						return fmt.Errorf("%s, %d clients, %s: %w", b.name, c, t.name, err)
					}
					r.add(t.name, m)
					fmt.Fprintf(stderr, "fbload: round %d %-24s c%-3d %-9s %8.0f ev/s p99 %s\n", round+1, b.name, c, t.name, m.res.rate(), m.res.p99().Round(time.Microsecond))
				}
			}
		}
	}
	printTable(stdout, rows)
	return nil
}

// measurement is one load plus, for Firebreak, its drain and CPU.
type measurement struct {
	res   result
	drain time.Duration
	cpu   time.Duration // over load and drain
	// anon and file are the peak RssAnon and RssFile over load and drain.
	anon, file int64
}

func measure(ctx context.Context, t *target, drained bool, o options, b body, clients int, runID string, next *atomic.Int64) (measurement, error) {
	pid := t.cmd.Process.Pid
	cpu0, err := procCPU(pid)
	if err != nil {
		return measurement{}, err
	}
	stopMem := watchMem(pid, 100*time.Millisecond)
	res := drive(ctx, t.base+"/hooks/"+b.hook, clients, o.duration, o.maxEvents, b, runID, next)
	if res.errors > 0 {
		return measurement{}, fmt.Errorf("%d of %d requests failed, first: %s", res.errors, res.requests, res.firstErr)
	}
	m := measurement{res: res}
	if drained {
		if m.drain, err = drain(ctx, t.base, 20*time.Millisecond, o.drainMax); err != nil {
			return m, err
		}
	}
	m.anon, m.file = stopMem()
	cpu1, err := procCPU(pid)
	if err != nil {
		return m, err
	}
	m.cpu = cpu1 - cpu0
	return m, nil
}

// startFirebreak writes a configuration (extraCfg appended to it) and the
// playbook under dir and starts `firebreak serve` on a free loopback port.
func startFirebreak(ctx context.Context, bin, dir string, workers int, extraCfg, playbook string, stderr io.Writer) (*target, error) {
	if err := os.MkdirAll(filepath.Join(dir, "playbooks"), 0o700); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// Every client is one connection from 127.0.0.1, plus the /metrics
	// poll: the per-address limit (64 by default) would reset the 65th.
	cfg := fmt.Sprintf("listen: %s\ndata_dir: %s\nlog_level: warn\nhttp:\n  max_connections_per_ip: 1024\n", addr, filepath.Join(dir, "data"))
	if workers > 0 {
		cfg += fmt.Sprintf("workers: %d\n", workers)
	}
	cfg += extraCfg
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "playbooks", "bench.yaml"), []byte(playbook), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "firebreak.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath, "--playbooks", filepath.Join(dir, "playbooks"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start firebreak: %w", err)
	}
	logf.Close()
	t := &target{name: "firebreak", base: "http://" + addr, cmd: cmd}
	if err := waitReady(ctx, t.base+"/readyz", 30*time.Second); err != nil {
		stopTarget(t)
		log, _ := os.ReadFile(filepath.Join(dir, "firebreak.log"))
		fmt.Fprintf(stderr, "%s", log)
		return nil, fmt.Errorf("firebreak: %w", err)
	}
	return t, nil
}

// startHelper runs this program as `serve` and reads the address it
// prints.
func startHelper(ctx context.Context, name, self string, args ...string) (*target, error) {
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	t := &target{name: name, cmd: cmd}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stopTarget(t)
		return nil, fmt.Errorf("%s: no address: %w", name, err)
	}
	t.base = "http://" + strings.TrimSpace(line)
	if err := waitReady(ctx, t.base+"/hooks/ping", 10*time.Second); err != nil {
		stopTarget(t)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// waitReady polls url until it answers at all (any status for the
// helpers' hook, 200 for /readyz).
func waitReady(ctx context.Context, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if !strings.HasSuffix(url, "/readyz") || resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %s (last error: %v)", url, limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stopTarget ends a server this program started: SIGTERM, then SIGKILL
// after 10 s.
func stopTarget(t *target) {
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = t.cmd.Process.Kill()
		<-done
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
