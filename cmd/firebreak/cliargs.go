package main

import (
	"errors"
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

// parseFlags parses args; ok is false when the command must end with code:
// 0 after --help, -h or a first argument "help" (fs prints its usage), 2
// for a bad flag, which fs already reported.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if len(args) > 0 && args[0] == "help" {
		fs.Usage()
		return 0, false
	}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		return 0, false
	}
	return 2, false
}

// parseNoArgs parses args for a command that takes flags only: a
// positional argument is refused with an error naming it, then the usage
// (exit 2). Otherwise it is parseFlags.
func parseNoArgs(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if code, ok := parseFlags(fs, args); !ok {
		return code, false
	}
	if fs.NArg() > 0 {
		return unexpectedArg(fs, fs.Arg(0)), false
	}
	return 0, true
}

// unexpectedArg reports arg as one fs's command does not take, then its
// usage, and returns the exit code 2.
func unexpectedArg(fs *flag.FlagSet, arg string) int {
	fmt.Fprintf(fs.Output(), "firebreak %s: unexpected argument %q\n", fs.Name(), arg)
	fs.Usage()
	return 2
}

// parseWithArg parses args for a command that takes one positional
// argument (an event or entry id), before or after the flags. The argument
// is "" when none was given; a second one is refused as parseNoArgs
// refuses any; "help" as the first argument asks for the usage; code and
// ok are parseFlags'.
func parseWithArg(fs *flag.FlagSet, args []string) (arg string, code int, ok bool) {
	if len(args) > 0 && args[0] == "help" {
		fs.Usage()
		return "", 0, false
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if code, ok := parseFlags(fs, args); !ok {
		return "", code, false
	}
	extra := fs.Args()
	if arg == "" && len(extra) > 0 {
		arg, extra = extra[0], extra[1:]
	}
	if len(extra) > 0 {
		return "", unexpectedArg(fs, extra[0]), false
	}
	return arg, 0, true
}
