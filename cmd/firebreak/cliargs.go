package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one subcommand's entry point.
type command func(args []string, stdout, stderr io.Writer) int

// subcommand runs the subcommand of group that args[0] names. With no
// subcommand it prints usage to stderr (exit 2); help, -h, -help and --help
// print it to stdout (exit 0); an unknown name is reported before the usage
// (exit 2).
func subcommand(group, usage string, cmds map[string]command, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if run, ok := cmds[args[0]]; ok {
		return run(args[1:], stdout, stderr)
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "firebreak: unknown %s command %q\n\n%s", group, args[0], usage)
	return 2
}

// parseWithArg parses args for a command that takes one positional
// argument (an event or entry id), before or after the flags. The argument
// is "" when none was given; code and ok are parseFlags'.
func parseWithArg(fs *flag.FlagSet, args []string) (arg string, code int, ok bool) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if code, ok := parseFlags(fs, args); !ok {
		return "", code, false
	}
	if arg == "" && fs.NArg() == 1 {
		arg = fs.Arg(0)
	}
	return arg, 0, true
}
