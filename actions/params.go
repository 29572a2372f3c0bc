package actions

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// CheckParams validates params against spec: unknown names, missing required
// ones (only when final, since templated values are absent at load time),
// types, enums and bounds. It returns every problem, joined, as *ParamError.
func CheckParams(spec Spec, params map[string]any, final bool) error {
	var errs []error
	known := map[string]Param{}
	for _, p := range spec.Params {
		known[p.Name] = p
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		p, ok := known[k]
		if !ok {
			errs = append(errs, &ParamError{Param: k, Msg: fmt.Sprintf("unknown parameter for %s", spec.ID)})
			continue
		}
		if err := checkValue(p, params[k]); err != nil {
			errs = append(errs, &ParamError{Param: k, Msg: err.Error()})
		}
	}
	if final {
		for _, p := range spec.Params {
			if _, ok := params[p.Name]; !ok && p.Required {
				errs = append(errs, &ParamError{Param: p.Name, Msg: "is required"})
			}
		}
	}
	return errors.Join(errs...)
}

func checkValue(p Param, v any) error {
	switch p.Type {
	case String:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("must be a string, got %s", typeName(v))
		}
		if len(p.Enum) > 0 && !slices.Contains(p.Enum, s) {
			return fmt.Errorf("must be one of %v, got %q", p.Enum, s)
		}
	case Int:
		n, ok := AsInt(v)
		if !ok {
			return fmt.Errorf("must be an integer, got %s", typeName(v))
		}
		if p.Min != nil && n < *p.Min {
			return fmt.Errorf("must be at least %d", *p.Min)
		}
		if p.Max != nil && n > *p.Max {
			return fmt.Errorf("must be at most %d", *p.Max)
		}
	case Bool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("must be true or false, got %s", typeName(v))
		}
	case Duration:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("must be a duration such as \"15m\", got %s", typeName(v))
		}
		if _, err := time.ParseDuration(s); err != nil {
			return fmt.Errorf("must be a duration such as \"15m\": %q", s)
		}
	case Map:
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("must be a mapping, got %s", typeName(v))
		}
	}
	return nil
}

// AsInt converts the numeric types YAML, JSON and expr produce to an int.
func AsInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case int32:
		return int(n), true
	case uint64:
		if n > math.MaxInt {
			return 0, false
		}
		return int(n), true
	case float64:
		if n != math.Trunc(n) {
			return 0, false
		}
		return int(n), true
	}
	return 0, false
}

// StringParam returns params[name] as a string, or def.
func StringParam(params map[string]any, name, def string) string {
	if s, ok := params[name].(string); ok {
		return s
	}
	return def
}

// IntParam returns params[name] as an int, or def.
func IntParam(params map[string]any, name string, def int) int {
	if n, ok := AsInt(params[name]); ok {
		return n
	}
	return def
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, int32, uint64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

// IntPtr returns a pointer to n, for Param.Min and Param.Max.
func IntPtr(n int) *int { return &n }
