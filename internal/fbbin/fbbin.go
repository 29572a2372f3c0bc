// Package fbbin builds the firebreak binary once per test process, for
// tests that run it as a separate process (a replica to kill -9, a binary
// for a container image's entrypoint). Call Remove from TestMain after
// the tests ran.
package fbbin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

var (
	once sync.Once
	dir  string
	path string
	err  error
)

// Path builds cmd/firebreak the first time it is called, with the go tool
// of the running toolchain (else the one on $PATH), and returns the
// binary's path; later calls return the same path, or the same error.
func Path() (string, error) {
	once.Do(func() {
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, statErr := os.Stat(gobin); statErr != nil {
			if gobin, err = exec.LookPath("go"); err != nil {
				err = fmt.Errorf("no go tool to build the firebreak binary: %w", err)
				return
			}
		}
		if dir, err = os.MkdirTemp("", "firebreak-test-bin-"); err != nil {
			return
		}
		path = filepath.Join(dir, "firebreak")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, gobin, "build", "-o", path, "github.com/firebreak/firebreak/cmd/firebreak")
		if out, buildErr := cmd.CombinedOutput(); buildErr != nil {
			err = fmt.Errorf("go build: %v\n%s", buildErr, out)
		}
	})
	return path, err
}

// Remove deletes the binary Path built, if any.
func Remove() {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}
