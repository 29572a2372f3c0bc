package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/firebreak/firebreak/engine/event"
)

// GenericConfig maps any JSON body to events with expr expressions
// (https://expr-lang.org). Each expression sees the parsed body as body and,
// when Items is set, the current element as item. Missing keys read as nil;
// use ?. and ?? for optional paths (body.alert?.host ?? ""). An expression
// that fails at run time is a *DecodeError naming its key; one that yields
// nil or "" leaves its field empty.
//
//	generic:
//	  myapp:
//	    items: body.findings            # optional: one event per element
//	    id: item.id                     # optional: else BodyHash (+ index)
//	    name: item.title                # required
//	    severity: item.level            # mapped onto critical|high|warning|info
//	    status: 'item.state == "closed" ? "resolved" : "firing"'
//	    starts_at: item.created_at      # RFC 3339 or Unix time; else receive time
//	    labels: { team: body.team }
//	    labels_from: item.tags          # an object whose scalar entries become labels
//	    annotations: { summary: item.summary }
//	    fields: { score: item.score }   # added to fields, which hold the body (or item)
//	    host: item.asset?.hostname
//	    src_ip: item.network?.src       # kept only if it is an IP address
type GenericConfig struct {
	Items       string            `yaml:"items" json:"items,omitempty"`
	ID          string            `yaml:"id" json:"id,omitempty"`
	Name        string            `yaml:"name" json:"name"`
	Severity    string            `yaml:"severity" json:"severity,omitempty"`
	Status      string            `yaml:"status" json:"status,omitempty"`
	StartsAt    string            `yaml:"starts_at" json:"starts_at,omitempty"`
	Labels      map[string]string `yaml:"labels" json:"labels,omitempty"`
	LabelsFrom  string            `yaml:"labels_from" json:"labels_from,omitempty"`
	Annotations map[string]string `yaml:"annotations" json:"annotations,omitempty"`
	Fields      map[string]string `yaml:"fields" json:"fields,omitempty"`
	Namespace   string            `yaml:"namespace" json:"namespace,omitempty"`
	Workload    string            `yaml:"workload" json:"workload,omitempty"`
	Pod         string            `yaml:"pod" json:"pod,omitempty"`
	Host        string            `yaml:"host" json:"host,omitempty"`
	SrcIP       string            `yaml:"src_ip" json:"src_ip,omitempty"`
	DstIP       string            `yaml:"dst_ip" json:"dst_ip,omitempty"`
	User        string            `yaml:"user" json:"user,omitempty"`
}

// genericEnv is what the expressions see.
type genericEnv struct {
	Body any `expr:"body"`
	Item any `expr:"item"`
}

// Generic is a Decoder configured with expressions, compiled once by
// NewGeneric. It is safe for concurrent use.
type Generic struct {
	name  string
	items *vm.Program
	// scalar expressions by config key (id, name, severity …).
	progs map[string]*vm.Program
	// map expressions by config key and map key (labels.team …).
	labels, annotations, fields map[string]*vm.Program
}

// NewGeneric compiles cfg for the source called name, which becomes each
// event's Source and the prefix of its ID; it may not be a built-in source's
// name. Every expression that does not compile is reported, each prefixed
// with its key.
func NewGeneric(name string, cfg GenericConfig) (*Generic, error) {
	g := &Generic{name: name, progs: map[string]*vm.Program{}}
	var errs []error
	if name == "" {
		errs = append(errs, errors.New("name is required"))
	} else if _, ok := Builtin()[name]; ok {
		errs = append(errs, fmt.Errorf("name %q is taken by a built-in source", name))
	}
	if cfg.Name == "" {
		errs = append(errs, errors.New("name: an expression is required"))
	}
	compile := func(key, src string) *vm.Program {
		if src == "" {
			return nil
		}
		p, err := expr.Compile(src, expr.Env(genericEnv{}))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			return nil
		}
		return p
	}
	g.items = compile("items", cfg.Items)
	for key, src := range map[string]string{
		"id": cfg.ID, "name": cfg.Name, "severity": cfg.Severity, "status": cfg.Status,
		"starts_at": cfg.StartsAt, "labels_from": cfg.LabelsFrom,
		"namespace": cfg.Namespace, "workload": cfg.Workload, "pod": cfg.Pod, "host": cfg.Host,
		"src_ip": cfg.SrcIP, "dst_ip": cfg.DstIP, "user": cfg.User,
	} {
		if p := compile(key, src); p != nil {
			g.progs[key] = p
		}
	}
	compileMap := func(key string, m map[string]string) map[string]*vm.Program {
		out := make(map[string]*vm.Program, len(m))
		for k, src := range m {
			if src == "" {
				errs = append(errs, fmt.Errorf("%s.%s: empty expression", key, k))
				continue
			}
			if p := compile(key+"."+k, src); p != nil {
				out[k] = p
			}
		}
		return out
	}
	g.labels = compileMap("labels", cfg.Labels)
	g.annotations = compileMap("annotations", cfg.Annotations)
	g.fields = compileMap("fields", cfg.Fields)
	if len(errs) > 0 {
		sortErrs(errs)
		return nil, fmt.Errorf("generic source %q: %w", name, errors.Join(errs...))
	}
	return g, nil
}

// sortErrs orders errors by text so a config error reads the same every run.
func sortErrs(errs []error) {
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
}

// Name implements Decoder.
func (g *Generic) Name() string { return g.name }

// Decode implements Decoder: one event per body, or per element of items.
func (g *Generic) Decode(body []byte, now time.Time) (evs []event.Event, err error) {
	defer func() {
		// Expressions are user code; expr recovers its own panics, this is
		// the last line of defence.
		if r := recover(); r != nil {
			evs, err = nil, &DecodeError{Msg: fmt.Sprintf("expression panicked: %v", r)}
		}
	}()
	dec := json.NewDecoder(bytes.NewReader(keepDistinct(body)))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, jsonError(err)
	}
	if err := noTrailing(dec); err != nil {
		return nil, err
	}
	if tooDeep(doc, 0) {
		return nil, &DecodeError{Msg: fmt.Sprintf("JSON nested deeper than %d levels", maxDepth)}
	}
	doc = normalise(doc)
	if g.items == nil {
		ev, err := g.event(genericEnv{Body: doc}, "", body, -1, now)
		if err != nil {
			return nil, err
		}
		return []event.Event{ev}, nil
	}
	v, err := expr.Run(g.items, genericEnv{Body: doc})
	if err != nil {
		return nil, &DecodeError{Field: "items", Msg: err.Error()}
	}
	list, ok := v.([]any)
	if !ok {
		return nil, &DecodeError{Field: "items", Msg: fmt.Sprintf("must yield a list, got %T", v)}
	}
	out := make([]event.Event, 0, len(list))
	for i, it := range list {
		ev, err := g.event(genericEnv{Body: doc, Item: it}, fmt.Sprintf("items[%d].", i), body, i, now)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

func (g *Generic) event(env genericEnv, where string, body []byte, index int, now time.Time) (event.Event, error) {
	var firstErr error
	run := func(key string, p *vm.Program) any {
		if p == nil || firstErr != nil {
			return nil
		}
		v, err := expr.Run(p, env)
		if err != nil {
			firstErr = &DecodeError{Field: where + key, Msg: err.Error()}
			return nil
		}
		return v
	}
	scalar := func(key string) string {
		s, _ := scalarString(run(key, g.progs[key]))
		return s
	}
	ev := event.Event{
		Source:     g.name,
		Name:       scalar("name"),
		Severity:   mapSeverity(scalar("severity")),
		Namespace:  scalar("namespace"),
		Workload:   scalar("workload"),
		Pod:        scalar("pod"),
		Host:       scalar("host"),
		SrcIP:      onlyIP(scalar("src_ip")),
		DstIP:      onlyIP(scalar("dst_ip")),
		User:       scalar("user"),
		ReceivedAt: now,
	}
	switch s := run("status", g.progs["status"]).(type) {
	case bool:
		ev.Status = event.StatusResolved
		if s {
			ev.Status = event.StatusFiring
		}
	default:
		str, _ := scalarString(s)
		ev.Status = firingOr(str)
	}
	switch t := run("starts_at", g.progs["starts_at"]).(type) {
	case nil:
	case time.Time:
		ev.StartsAt = t
	case string:
		if t != "" {
			pt, err := parseTime(t)
			if err != nil && firstErr == nil {
				firstErr = &DecodeError{Field: where + "starts_at", Msg: err.Error()}
			}
			ev.StartsAt = pt
		}
	default:
		f, ok := number(t)
		pt, ok2 := unixTime(f)
		if (!ok || !ok2) && firstErr == nil {
			firstErr = &DecodeError{Field: where + "starts_at", Msg: fmt.Sprintf("must yield a timestamp, got %T", t)}
		}
		ev.StartsAt = pt
	}
	if ev.StartsAt.IsZero() {
		ev.StartsAt = now
	}
	labels := stringMap(run("labels_from", g.progs["labels_from"]))
	for k, p := range g.labels {
		if s, ok := scalarString(run("labels."+k, p)); ok && s != "" {
			if labels == nil {
				labels = map[string]string{}
			}
			labels[k] = s
		}
	}
	ev.Labels = labels
	for k, p := range g.annotations {
		if s, ok := scalarString(run("annotations."+k, p)); ok && s != "" {
			if ev.Annotations == nil {
				ev.Annotations = map[string]string{}
			}
			ev.Annotations[k] = s
		}
	}
	ev.Fields = map[string]any{}
	base := env.Body
	if env.Item != nil {
		base = env.Item
	}
	if m, ok := base.(map[string]any); ok {
		for k, v := range m {
			ev.Fields[k] = v
		}
	} else if base != nil {
		ev.Fields["value"] = base
	}
	for k, p := range g.fields {
		if v := run("fields."+k, p); v != nil {
			ev.Fields[k] = v
		}
	}
	id := scalar("id")
	if firstErr != nil {
		return event.Event{}, firstErr
	}
	if ev.Name == "" {
		return event.Event{}, &DecodeError{Field: where + "name", Msg: "expression yielded nothing"}
	}
	switch {
	case id != "":
		ev.ID = g.name + ":" + id
	case index >= 0:
		ev.ID = BodyHash(g.name, body) + ":" + strconv.Itoa(index)
	default:
		ev.ID = BodyHash(g.name, body)
	}
	if ev.Status == event.StatusResolved {
		// A resolved notice must not collide with the firing one.
		ev.ID += ":resolved"
	}
	return ev, nil
}

// onlyIP keeps s when it is an IP address ("ip:port" keeps the IP), so an
// action never gets something else to block.
func onlyIP(s string) string {
	if isIP(s) {
		return s
	}
	if h, _, ok := splitHostPort(s); ok && isIP(h) {
		return h
	}
	return ""
}
