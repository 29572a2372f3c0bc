package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// readPlaybookFiles reads the playbook YAML files under path (a file or a
// directory), keyed by their path, for POST /api/v1/replay.
func readPlaybookFiles(path string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[p] = string(b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read candidate playbooks: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no playbook files (*.yaml, *.yml) under %s", path)
	}
	return out, nil
}
