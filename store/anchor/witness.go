package anchor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
)

// Config says where checkpoints are witnessed.
type Config struct {
	// File is appended one JSON line per checkpoint, synced; it belongs on
	// another volume (or host) than the database.
	File string
	// URL receives each newest checkpoint as a JSON POST; any 2xx answer
	// takes it.
	URL string
	// Client makes the POSTs (default: a client with a 10 s timeout).
	Client *http.Client
	// Logger reports failures; the default discards them.
	Logger *slog.Logger
	// Backoff is the first wait after a failed POST, doubled up to a
	// minute (default 1 s).
	Backoff time.Duration
}

// Witness carries signed checkpoints to the configured witnesses. Offer
// is called on the store's commit loop; Run does the I/O.
type Witness struct {
	cfg  Config
	mu   sync.Mutex
	file []audit.SignedCheckpoint // not yet appended to the file
	post *audit.SignedCheckpoint  // the newest not yet taken by the URL
	wake chan struct{}
}

// New returns a witness for cfg.
func New(cfg Config) *Witness {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	return &Witness{cfg: cfg, wake: make(chan struct{}, 1)}
}

// Offer queues cp for the witnesses. It never blocks.
func (w *Witness) Offer(cp audit.SignedCheckpoint) {
	w.mu.Lock()
	if w.cfg.File != "" {
		w.file = append(w.file, cp)
	}
	if w.cfg.URL != "" {
		w.post = &cp
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers offered checkpoints until ctx ends: every one to the file,
// the newest to the URL, retrying a failed POST with backoff (a newer
// checkpoint replaces one not yet taken).
func (w *Witness) Run(ctx context.Context) {
	backoff := w.cfg.Backoff
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-retry:
		}
		retry = nil
		w.mu.Lock()
		lines, post := w.file, w.post
		w.file = nil
		w.mu.Unlock()
		if len(lines) > 0 {
			if err := appendFile(w.cfg.File, lines); err != nil {
				w.cfg.Logger.Error("audit witness file failed", "file", w.cfg.File, "error", err)
				w.mu.Lock()
				w.file = append(lines, w.file...)
				w.mu.Unlock()
				retry = time.After(backoff)
			}
		}
		if post != nil {
			if err := w.postOne(ctx, *post); err != nil {
				w.cfg.Logger.Error("audit witness POST failed", "seq", post.Seq, "error", err)
				retry = time.After(backoff)
			} else {
				w.mu.Lock()
				if w.post != nil && w.post.Seq == post.Seq {
					w.post = nil
				}
				w.mu.Unlock()
			}
		}
		if retry != nil {
			backoff = min(backoff*2, time.Minute)
		} else {
			backoff = w.cfg.Backoff
		}
	}
}

func appendFile(path string, cps []audit.SignedCheckpoint) error {
	var buf bytes.Buffer
	for _, cp := range cps {
		b, err := json.Marshal(cp)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func (w *Witness) postOne(ctx context.Context, cp audit.SignedCheckpoint) error {
	body, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		// The URL may carry a token: report the cause without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("POST to the witness: %w", ue.Err)
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("witness answered %s", resp.Status)
	}
	return nil
}

// ReadFile reads a witness file: one JSON checkpoint per line. A line that
// does not decode is an error naming it (file:line); a torn last line (a
// crash mid-append) is skipped.
func ReadFile(path string) ([]audit.SignedCheckpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	defer f.Close()
	var out []audit.SignedCheckpoint
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	var bad error
	for sc.Scan() {
		line++
		if bad != nil {
			return nil, bad // a bad line that was not the last one
		}
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var cp audit.SignedCheckpoint
		if err := json.Unmarshal(text, &cp); err != nil {
			bad = fmt.Errorf("%s:%d: not a checkpoint: %v", path, line, err)
			continue
		}
		out = append(out, cp)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("witness %s: %w", path, err)
	}
	return out, nil
}

// CheckURL validates a witness URL: absolute http or https with a host. The
// error never repeats the URL, which may carry a token.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http:// or https:// URL")
	}
	return nil
}
