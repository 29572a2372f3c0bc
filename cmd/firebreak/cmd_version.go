package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version and commit are set at build time by `make release`:
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=<sha>"
//
// Without them, version is "dev" and commit falls back to the VCS revision
// the Go toolchain stamped into the binary, when it did.
var (
	version = "dev"
	commit  = ""
)

// buildCommit returns the commit the binary was built from: the -ldflags
// value, else the toolchain's vcs.revision (with "-dirty" for a modified
// tree), else "unknown".
func buildCommit(info *debug.BuildInfo, ok bool) string {
	if commit != "" {
		return commit
	}
	if !ok || info == nil {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// cmdVersion prints the version, the commit and the Go toolchain and
// platform the binary was built with, one line.
func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: firebreak version") }
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	info, ok := debug.ReadBuildInfo()
	fmt.Fprintf(stdout, "firebreak %s commit %s %s %s/%s\n", version, buildCommit(info, ok), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}
