package actions

import (
	"fmt"
	"sort"
	"sync"
)

// Registry holds the actions a process can run, by id.
type Registry struct {
	mu      sync.RWMutex
	actions map[string]Action
	dryRun  map[string]string // id → why it is forced into dry-run
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{actions: map[string]Action{}, dryRun: map[string]string{}}
}

// Register adds a. An id registered twice is an error.
func (r *Registry) Register(a Action) error {
	id := a.Spec().ID
	if id == "" {
		return fmt.Errorf("register action: empty id")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.actions[id]; ok {
		return fmt.Errorf("register %q: %w", id, ErrDuplicateAction)
	}
	r.actions[id] = a
	return nil
}

// RegisterDryRun adds a and marks it as always dry-run, because the
// infrastructure it needs is not configured; why says what is missing.
func (r *Registry) RegisterDryRun(a Action, why string) error {
	if err := r.Register(a); err != nil {
		return err
	}
	r.mu.Lock()
	r.dryRun[a.Spec().ID] = why
	r.mu.Unlock()
	return nil
}

// Get returns the action with the given id.
func (r *Registry) Get(id string) (Action, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.actions[id]
	if !ok {
		return nil, fmt.Errorf("%q: %w", id, ErrUnknownAction)
	}
	return a, nil
}

// ForcedDryRun reports whether id runs in dry-run only, and why.
func (r *Registry) ForcedDryRun(id string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	why, ok := r.dryRun[id]
	return why, ok
}

// IDs returns the registered ids, sorted.
func (r *Registry) IDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]string, 0, len(r.actions))
	for id := range r.actions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Specs returns every registered action's Spec, sorted by id.
func (r *Registry) Specs() []Spec {
	ids := r.IDs()
	out := make([]Spec, 0, len(ids))
	for _, id := range ids {
		a, _ := r.Get(id)
		out = append(out, a.Spec())
	}
	return out
}
