package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/firebreak/firebreak/web"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/playbooks"
)

// errEmptyReload refuses a reload that would leave no playbook loaded.
var errEmptyReload = errors.New("a reload must load at least one playbook; the loaded set stays")

// reloadDebounce is how long the watcher waits after the last change in a
// playbook directory before reloading, so that an editor's or a ConfigMap's
// burst of writes and renames causes one reload.
const reloadDebounce = 300 * time.Millisecond

// Reload triggers, recorded as the actor of the audit record.
const (
	triggerSignal = "SIGHUP"
	triggerWatch  = "file change"
	triggerAPI    = web.TriggerAPI
)

// reloader swaps the engine's playbook set for a freshly loaded one, only
// when the whole new set validates. Reloads are serialised.
type reloader struct {
	a      *App
	log    *slog.Logger
	mu     sync.Mutex
	sighup chan os.Signal
}

// ReloadResult is web.ReloadResult: what a reload did.
type ReloadResult = web.ReloadResult

// setupReload wires hot reload: SIGHUP and changes in the playbook
// directories reload the set.
func setupReload(a *App) error {
	r := &reloader{a: a, log: a.log.With("component", "reload"), sighup: make(chan os.Signal, 1)}
	a.reload = r
	// Registered now, not in the background goroutine, so that a SIGHUP
	// after Start returns never meets the default action (exit).
	signal.Notify(r.sighup, syscall.SIGHUP)
	a.closers = append(a.closers, func() error { signal.Stop(r.sighup); return nil })
	a.Go(r.signals)
	if len(a.Config.Playbooks) > 0 {
		a.Go(r.watch)
	}
	return nil
}

// Reload loads the configured playbooks and installs them if all of them
// validate. Every outcome except an unchanged watcher reload is audited.
func (r *reloader) Reload(ctx context.Context, trigger string) ReloadResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := ReloadResult{Trigger: trigger, Added: []string{}, Removed: []string{}, Changed: []string{}}
	set, where, err := LoadPlaybooks(r.a.Config, r.a.Registry)
	if err == nil && set.Len() == 0 {
		// An emptied directory is far more likely a mistake (a bad deploy, a
		// missing mount) than a wish to stop all automation.
		err = fmt.Errorf("no playbooks found in %s: %w", where, errEmptyReload)
	}
	if err != nil {
		res.Error = err.Error()
		var ps playbooks.Problems
		if errors.As(err, &ps) {
			res.Problems = ps
			res.Error = fmt.Sprintf("%d problem(s) in the playbooks; the loaded set stays", len(ps))
		}
		r.log.Error("playbook reload rejected; the loaded set stays", "trigger", trigger, "from", where, "error", err)
		r.audit(ctx, audit.Record{Kind: audit.KindReload, Outcome: "rejected", Actor: trigger, Message: res.Error,
			Data: map[string]any{"errors": errorLines(err)}})
		return res
	}
	set.SetClock(r.a.opts.Now)
	old := r.a.Engine.Playbooks()
	res.Added, res.Removed, res.Changed = setDiff(old, set)
	res.OK, res.Playbooks = true, set.Len()
	r.a.Engine.SetPlaybooks(set)
	if res.Unchanged() && trigger == triggerWatch {
		r.log.Debug("playbooks unchanged", "trigger", trigger)
		return res
	}
	msg := fmt.Sprintf("loaded %d playbook(s) from %s: %d added, %d removed, %d changed", set.Len(), where, len(res.Added), len(res.Removed), len(res.Changed))
	r.log.Info("playbooks reloaded", "trigger", trigger, "playbooks", set.Len(), "added", res.Added, "removed", res.Removed, "changed", res.Changed)
	r.audit(ctx, audit.Record{Kind: audit.KindReload, Outcome: "ok", Actor: trigger, Message: msg,
		Data: map[string]any{"added": res.Added, "removed": res.Removed, "changed": res.Changed, "hashes": hashes(set)}})
	return res
}

func (r *reloader) audit(ctx context.Context, rec audit.Record) {
	if err := r.a.DB.Audit(context.WithoutCancel(ctx), rec); err != nil {
		r.log.Error("writing the reload audit record failed", "error", err)
	}
}

func errorLines(err error) []string {
	var ps playbooks.Problems
	if errors.As(err, &ps) {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.Error()
		}
		return out
	}
	return []string{err.Error()}
}

func hashes(s *playbooks.Set) map[string]string {
	out := make(map[string]string, s.Len())
	for _, p := range s.Playbooks {
		out[p.Name] = p.Hash
	}
	return out
}

// setDiff names the playbooks added, removed and changed (by content hash)
// between two sets, each sorted.
func setDiff(old, cur *playbooks.Set) (added, removed, changed []string) {
	added, removed, changed = []string{}, []string{}, []string{}
	prev := map[string]string{}
	if old != nil {
		prev = hashes(old)
	}
	for _, p := range cur.Playbooks {
		h, ok := prev[p.Name]
		switch {
		case !ok:
			added = append(added, p.Name)
		case h != p.Hash:
			changed = append(changed, p.Name)
		}
		delete(prev, p.Name)
	}
	for name := range prev {
		removed = append(removed, name)
	}
	sort.Strings(added)
	sort.Strings(removed)
	sort.Strings(changed)
	return added, removed, changed
}

func (r *reloader) signals(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.sighup:
			r.Reload(ctx, triggerSignal)
		}
	}
}

// watch reloads, debounced, after any change in the playbook directories
// (for a configured file, its directory). New subdirectories are watched as
// they appear; ConfigMap-style symlink swaps are changes like any other.
func (r *reloader) watch(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.log.Error("watching the playbook directories failed; reload with SIGHUP or the API", "error", err)
		return
	}
	defer w.Close()
	for _, p := range r.a.Config.Playbooks {
		r.addWatches(w, p)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			r.log.Warn("playbook watcher", "error", err)
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			if ev.Op.Has(fsnotify.Create) {
				if info, err := os.Stat(ev.Name); err == nil && info.IsDir() {
					r.addWatches(w, ev.Name)
				}
			}
			timer.Reset(reloadDebounce)
		case <-timer.C:
			r.Reload(ctx, triggerWatch)
		}
	}
}

// addWatches watches dir p and its subdirectories, or a file's directory.
func (r *reloader) addWatches(w *fsnotify.Watcher, p string) {
	info, err := os.Stat(p)
	if err != nil {
		r.log.Warn("cannot watch playbook path", "path", p, "error", err)
		return
	}
	if !info.IsDir() {
		if err := w.Add(filepath.Dir(p)); err != nil {
			r.log.Warn("cannot watch playbook path", "path", p, "error", err)
		}
		return
	}
	_ = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			if err := w.Add(f); err != nil {
				r.log.Warn("cannot watch playbook directory", "path", f, "error", err)
			}
		}
		return nil
	})
}
