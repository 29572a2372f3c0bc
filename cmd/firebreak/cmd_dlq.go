package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/firebreak/firebreak/web"
)

const dlqUsage = `usage:
  firebreak dlq list [--addr ADDR] [--json]
  firebreak dlq retry ID [--force] [--addr ADDR]
  firebreak dlq discard ID --reason TEXT [--addr ADDR]
The dead-letter queue lives in the running server: these ask its API
(operator role: $FIREBREAK_API_TOKEN).
`

// cmdDLQ dispatches the dead-letter subcommands.
func cmdDLQ(args []string, stdout, stderr io.Writer) int {
	return subcommand("dlq", dlqUsage, map[string]command{
		"list": cmdDLQList,
		"retry": func(args []string, stdout, stderr io.Writer) int {
			return cmdDLQAct(args, "retry", stdout, stderr)
		},
		"discard": func(args []string, stdout, stderr io.Writer) int {
			return cmdDLQAct(args, "discard", stdout, stderr)
		},
	}, args, stdout, stderr)
}

func dlqClient(addr string) *apiSource {
	loc := &location{addr: &addr}
	return loc.remote()
}

func cmdDLQList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dlq list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", defaultAddr, "server address")
	asJSON := fs.Bool("json", false, "print JSON lines")
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	var res struct {
		Entries []web.DeadLetter `json:"entries"`
	}
	if _, err := dlqClient(*addr).do(context.Background(), http.MethodGet, "/api/v1/dlq", nil, &res); err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	if *asJSON {
		for _, e := range res.Entries {
			b, _ := json.Marshal(e)
			fmt.Fprintln(stdout, string(b))
		}
		return 0
	}
	if len(res.Entries) == 0 {
		fmt.Fprintln(stderr, "the dead-letter queue is empty")
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFAILED\tPLAYBOOK\tSTEP\tACTION\tTARGET\tATTEMPTS\tFAILURES\tSTALE\tERROR")
	for _, e := range res.Entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%v\t%s\n", e.ID, e.FailedAt.UTC().Format(time.RFC3339), e.Playbook, e.Step, e.Action,
			approvalsDash(e.Target), e.Attempts, e.Failures, e.Stale, e.Error)
	}
	_ = tw.Flush()
	return 0
}

// cmdDLQAct retries or discards one entry.
func cmdDLQAct(args []string, verb string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dlq "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", defaultAddr, "server address")
	force := fs.Bool("force", false, "retry even though the event is older than max_event_age (audited as forced)")
	reason := fs.String("reason", "", "why the entry is discarded (required for discard; audited)")
	id, code, ok := parseWithArg(fs, args)
	if !ok {
		return code
	}
	if id == "" {
		fmt.Fprint(stderr, dlqUsage)
		return 2
	}
	var body any
	switch verb {
	case "retry":
		body = map[string]any{"force": *force}
	default:
		if strings.TrimSpace(*reason) == "" {
			fmt.Fprintln(stderr, "firebreak: dlq discard needs --reason")
			return 2
		}
		body = map[string]any{"reason": *reason}
	}
	var res map[string]web.DeadLetter
	_, err := dlqClient(*addr).do(context.Background(), http.MethodPost, "/api/v1/dlq/"+url.PathEscape(id)+"/"+verb, body, &res)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		fmt.Fprintf(stderr, "firebreak: %s (repeat with --force to retry anyway; the retry is audited as forced)\n", ae.Message)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	for _, e := range res {
		if verb == "retry" {
			fmt.Fprintf(stdout, "retrying %s: %s step %d (%s); the audit trail records the outcome\n", e.ID, e.Playbook, e.Step, e.Action)
		} else {
			fmt.Fprintf(stdout, "discarded %s: %s step %d (%s)\n", e.ID, e.Playbook, e.Step, e.Action)
		}
	}
	return 0
}
