package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/replay"
	"github.com/firebreak/firebreak/internal/secret"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
)

// source is where the audit, replay and approvals commands read: the
// database file, opened read-only (fileSource, the store itself), or a
// running server's API (apiSource). Both answer with the same types and
// errors: store.ErrNotFound for an unknown event, audit.ErrChainBroken for
// a trail that does not verify.
type source interface {
	// ListAudit returns one page of records and the next cursor (0: none).
	ListAudit(ctx context.Context, q audit.Query) ([]audit.Record, uint64, error)
	// Timeline returns an incident's history.
	Timeline(ctx context.Context, eventID string) (app.Timeline, error)
	// VerifyAuditWith checks the trail.
	VerifyAuditWith(ctx context.Context, opts audit.VerifyOptions) (audit.VerifyReport, error)
	// Approvals lists approvals in status st ("" for every one).
	Approvals(ctx context.Context, st approval.Status) ([]approval.Approval, error)
	// Replay re-evaluates stored events; see replayInput.
	Replay(ctx context.Context, in replayInput) (*replay.Report, error)
	Close() error
}

// replayInput is what a replay needs: the options, the candidate playbook
// path (sent to a server as files), and, for a local replay, the set to
// replay against when there is no candidate.
type replayInput struct {
	opts    replay.Options
	pbPath  string
	current func() (*playbooks.Set, error)
}

// location holds the --data-dir and --addr flags of a command.
type location struct {
	fs      *flag.FlagSet
	dataDir *string
	addr    *string
	token   string // the API token for a server, from the environment
}

// addLocation registers --data-dir, --addr and --config on fs with their
// defaults (--config only when the command has none of its own).
func addLocation(fs *flag.FlagSet, defDataDir, defAddr string) *location {
	l := &location{
		fs:      fs,
		dataDir: fs.String("data-dir", defDataDir, "data directory: read its database file (alone, never a server)"),
		addr:    fs.String("addr", defAddr, "server address: ask that server's API (alone, never the file); used as the fallback when the file is held"),
	}
	if fs.Lookup("config") == nil {
		fs.String("config", "", "configuration file: with store.etcd, read the cluster's etcd store; else its data_dir")
	}
	return l
}

// clustered opens the etcd store the --config file names, or returns nil
// when there is no --config, it is a single node's, or --data-dir or
// --addr was given (they win). A single node's file sets the data
// directory read.
func (l *location) clustered() (source, error) {
	f := l.fs.Lookup("config")
	if f == nil || f.Value.String() == "" || l.given("data-dir") || l.given("addr") {
		return nil, nil
	}
	cfg, err := config.LoadFile(f.Value.String())
	if err != nil {
		return nil, err
	}
	e, node, err := config.ResolveStore(cfg)
	if err != nil {
		return nil, err
	}
	if e == nil {
		*l.dataDir, *l.addr = cfg.DataDir, cfg.Listen
		return nil, nil
	}
	// Its own node name: a replica's session must not be waited for.
	st, err := app.OpenEtcd(context.Background(), *e, fmt.Sprintf("cli.%s.%d", node, os.Getpid()), time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	return fileSource{st}, nil
}

// given reports whether the flag was set on the command line.
func (l *location) given(name string) bool {
	set := false
	l.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// open returns the source the flags name. An explicit --addr alone asks
// that server; an explicit --data-dir alone reads that file, and a file a
// server holds is an error saying so; otherwise (neither, or both) the file
// is read and, when a server holds it, the server at --addr is asked.
func (l *location) open() (source, error) {
	if src, err := l.clustered(); src != nil || err != nil {
		return src, err
	}
	remote := l.remote()
	dirSet, addrSet := l.given("data-dir"), l.given("addr")
	if addrSet && !dirSet {
		return remote, nil
	}
	path := filepath.Join(*l.dataDir, "firebreak.db")
	db, err := store.Open(path, store.Options{ReadOnly: true, LockTimeout: 300 * time.Millisecond})
	switch {
	case err == nil:
		return fileSource{db}, nil
	case errors.Is(err, store.ErrLocked) && dirSet && !addrSet:
		return nil, fmt.Errorf("%s is held by a running server: pass --addr to ask it: %w", path, err)
	case errors.Is(err, store.ErrLocked):
		return remote, nil
	}
	return nil, err
}

// remote returns the client of the server at --addr, with the API token
// (l.token, else $FIREBREAK_API_TOKEN).
func (l *location) remote() *apiSource {
	token := l.token
	if token == "" {
		token, _ = apiToken("", "FIREBREAK_API_TOKEN", false)
	}
	return &apiSource{addr: *l.addr, token: token, client: &http.Client{Timeout: 5 * time.Minute}}
}

// apiToken reads the API token from the environment variable envName by
// the one secret resolver (internal/secret), trimmed as every secret is. A
// variable the user named with flag (explicit) that is unset or empty is an
// error naming the flag; the default variable unset means no token, since
// the file may be read or the server may ask for none.
func apiToken(flag, envName string, explicit bool) (string, error) {
	v, err := secret.Resolve("token", "", envName, "", os.LookupEnv, os.ReadFile)
	var se *secret.Error
	if errors.As(err, &se) {
		if explicit {
			return "", fmt.Errorf("%s: %s", flag, se.Msg)
		}
		return "", nil
	}
	return v, err
}

// fileSource is the database file, opened read-only: the store.
type fileSource struct{ store.Backend }

func (f fileSource) Timeline(ctx context.Context, id string) (app.Timeline, error) {
	return app.TimelineOf(ctx, f.Backend, id)
}

func (f fileSource) Approvals(ctx context.Context, st approval.Status) ([]approval.Approval, error) {
	return approval.List(ctx, f.Backend, approval.Filter{Status: st})
}

func (f fileSource) Replay(ctx context.Context, in replayInput) (*replay.Report, error) {
	opts := in.opts
	if opts.Playbooks == nil {
		set, err := in.current()
		if err != nil {
			return nil, fmt.Errorf("current playbooks: %w", err)
		}
		opts.Playbooks = set
	}
	return replay.Run(ctx, f.Backend, opts)
}

// apiSource is a running server's API. A non-2xx answer is an *apiError.
type apiSource struct {
	addr   string
	token  string
	client *http.Client
}

// apiError is a server's refusal: its status and the error it named.
type apiError struct {
	Status  int
	Text    string // "401 Unauthorized"
	Message string
	// Hint says what to do, when the CLI knows.
	Hint string
}

func (e *apiError) Error() string {
	s := "server answered " + e.Text
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// chainError is a server's 409 from the verify endpoint.
type chainError struct{ msg string }

func (e *chainError) Error() string        { return e.msg }
func (e *chainError) Is(target error) bool { return target == audit.ErrChainBroken }

func (a *apiSource) Close() error { return nil }

// do sends the request and decodes a 2xx answer into dst; a status in
// accept is decoded too (the caller reads it from the result).
func (a *apiSource) do(ctx context.Context, method, path string, body any, dst any, accept ...int) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+a.addr+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("the server at %s did not answer: %w", a.addr, err)
	}
	defer resp.Body.Close()
	ok := resp.StatusCode/100 == 2
	for _, s := range accept {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		e := &apiError{Status: resp.StatusCode, Text: resp.Status}
		var msg struct {
			Error string `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if json.Unmarshal(b, &msg) == nil {
			e.Message = msg.Error
		}
		if (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) && a.token == "" {
			e.Hint = "set FIREBREAK_API_TOKEN to the operator token or a viewer token"
		}
		return resp.StatusCode, e
	}
	if err := json.NewDecoder(resp.Body).Decode(dst); err != nil {
		return resp.StatusCode, fmt.Errorf("decode the server's answer: %w", err)
	}
	return resp.StatusCode, nil
}

func (a *apiSource) ListAudit(ctx context.Context, q audit.Query) ([]audit.Record, uint64, error) {
	v := url.Values{}
	for k, val := range map[string]string{"event_id": q.EventID, "playbook": q.Playbook, "action": q.Action, "kind": string(q.Kind), "outcome": q.Outcome} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.RFC3339Nano))
	}
	v.Set("limit", strconv.Itoa(min(max(q.Limit, 1), 1000)))
	if q.After != 0 {
		v.Set("cursor", strconv.FormatUint(q.After, 10))
	}
	var page struct {
		Records    []audit.Record `json:"records"`
		NextCursor string         `json:"next_cursor"`
	}
	if _, err := a.do(ctx, http.MethodGet, "/api/v1/audit?"+v.Encode(), nil, &page); err != nil {
		return nil, 0, err
	}
	var next uint64
	if page.NextCursor != "" {
		n, err := strconv.ParseUint(page.NextCursor, 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("server sent cursor %q: %w", page.NextCursor, err)
		}
		next = n
	}
	return page.Records, next, nil
}

func (a *apiSource) Timeline(ctx context.Context, id string) (app.Timeline, error) {
	var tl app.Timeline
	_, err := a.do(ctx, http.MethodGet, "/api/v1/audit/timeline/"+url.PathEscape(id), nil, &tl)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return tl, fmt.Errorf("event %s: %w", id, store.ErrNotFound)
	}
	return tl, err
}

func (a *apiSource) VerifyAuditWith(ctx context.Context, opts audit.VerifyOptions) (audit.VerifyReport, error) {
	v := url.Values{}
	if opts.PublicKey != nil {
		v.Set("public_key", base64.StdEncoding.EncodeToString(opts.PublicKey))
	}
	// The newest witness checkpoint covers every older one: its hash
	// commits to the whole chain before it.
	var newest *audit.SignedCheckpoint
	for i := range opts.Witness {
		if newest == nil || opts.Witness[i].Seq > newest.Seq {
			newest = &opts.Witness[i]
		}
	}
	if newest != nil {
		b, err := json.Marshal(newest)
		if err != nil {
			return audit.VerifyReport{}, err
		}
		v.Set("witness", base64.URLEncoding.EncodeToString(b))
	}
	var res struct {
		OK      bool               `json:"ok"`
		Records int                `json:"records"`
		Error   string             `json:"error"`
		Report  audit.VerifyReport `json:"report"`
	}
	path := "/api/v1/audit/verify"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	if _, err := a.do(ctx, http.MethodGet, path, nil, &res, http.StatusConflict); err != nil {
		return audit.VerifyReport{}, err
	}
	res.Report.Records = res.Records
	if !res.OK {
		return res.Report, &chainError{msg: res.Error}
	}
	return res.Report, nil
}

func (a *apiSource) Approvals(ctx context.Context, st approval.Status) ([]approval.Approval, error) {
	v := url.Values{}
	v.Set("status", "all")
	if st != "" {
		v.Set("status", string(st))
	}
	var out struct {
		Approvals []approval.Approval `json:"approvals"`
	}
	_, err := a.do(ctx, http.MethodGet, "/api/v1/approvals?"+v.Encode(), nil, &out)
	var ae *apiError
	if errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden) {
		ae.Hint = "set FIREBREAK_API_TOKEN (or --token-env) to a token with the viewer or approver role"
	}
	return out.Approvals, err
}

func (a *apiSource) Replay(ctx context.Context, in replayInput) (*replay.Report, error) {
	req := app.ReplayRequest{Since: in.opts.Since.Format(time.RFC3339Nano)}
	if !in.opts.Until.IsZero() {
		req.Until = in.opts.Until.Format(time.RFC3339Nano)
	}
	if in.pbPath != "" {
		files, err := readPlaybookFiles(in.pbPath)
		if err != nil {
			return nil, err
		}
		req.Playbooks = files
	}
	var rep replay.Report
	if _, err := a.do(ctx, http.MethodPost, "/api/v1/replay", req, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}
