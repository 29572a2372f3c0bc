package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/firebreak/firebreak/engine/approval"
)

// cmdApprovals dispatches the approvals subcommands.
func cmdApprovals(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: firebreak approvals list [--data-dir DIR] [--addr ADDR] [--status STATUS|--all] [--json]")
		return 2
	}
	switch args[0] {
	case "list":
		return cmdApprovalsList(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, "usage: firebreak approvals list [--data-dir DIR] [--addr ADDR] [--status STATUS|--all] [--json]")
		return 0
	}
	fmt.Fprintf(stderr, "firebreak: unknown approvals command %q\n", args[0])
	return 2
}

// cmdApprovalsList prints approvals from the database, opened read-only,
// or from the running server's API when the server holds the database.
func cmdApprovalsList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("approvals list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	loc := addLocation(fs, defaultDataDir, defaultAddr)
	status := fs.String("status", "pending", "only approvals in this status: pending, approved, denied, expired, cancelled")
	all := fs.Bool("all", false, "every approval, whatever its status")
	asJSON := fs.Bool("json", false, "print JSON lines")
	tokenEnv := fs.String("token-env", "FIREBREAK_API_TOKEN", "environment variable holding an API token (viewer or approver role), used with the server's API")
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	st := approval.Status(*status)
	if *all {
		st = ""
	}
	switch st {
	case "", approval.StatusPending, approval.StatusApproved, approval.StatusDenied, approval.StatusExpired, approval.StatusCancelled:
	default:
		fmt.Fprintf(stderr, "firebreak: --status %q: must be pending, approved, denied, expired or cancelled\n", *status)
		return 2
	}
	token, err := apiToken("--token-env", *tokenEnv, loc.given("token-env"))
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 2
	}
	loc.token = token
	src, err := loc.open()
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	defer src.Close()
	list, err := src.Approvals(context.Background(), st)
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	if *asJSON {
		for _, a := range list {
			b, _ := json.Marshal(a)
			fmt.Fprintln(stdout, string(b))
		}
		return 0
	}
	if len(list) == 0 {
		fmt.Fprintln(stderr, "no approvals")
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tPLAYBOOK\tACTION\tTARGET\tAPPROVALS\tREQUESTED\tEXPIRES\tPLAN\tDECIDED BY / OUTCOME")
	for _, a := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n",
			a.ID, a.Status, a.Playbook, a.Action, approvalsDash(a.Target), len(a.Approvals), a.Required,
			a.RequestedAt.UTC().Format(time.RFC3339), a.ExpiresAt.UTC().Format(time.RFC3339), approvalsShort(a.PlanHash), approvalsDecided(a))
	}
	_ = tw.Flush()
	return 0
}

func approvalsDecided(a approval.Approval) string {
	var parts []string
	switch {
	case a.Status == approval.StatusDenied && a.DecidedBy != nil:
		parts = append(parts, "denied by "+a.DecidedBy.By)
	case len(a.Approvals) > 0:
		parts = append(parts, "approved by "+strings.Join(a.Approvers(), ","))
	}
	if a.Reason != "" && a.Status != approval.StatusDenied {
		parts = append(parts, a.Reason)
	}
	if a.Outcome != "" {
		parts = append(parts, a.Outcome)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

func approvalsDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func approvalsShort(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}
