package main

import (
	"fmt"
	"io"
	"os"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: fbload run|keepup|serve [flags] (see go doc ./cmd/fbload)")
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "keepup":
		return cmdKeepup(args[1:], stdout, stderr)
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "fbload: unknown command %q: want run, keepup or serve\n", args[0])
	return 2
}
