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
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/store"
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
	}
	fmt.Fprintf(stderr, "firebreak: unknown approvals command %q\n", args[0])
	return 2
}

// cmdApprovalsList prints approvals from the database, opened read-only,
// or from the running server's API when the server holds the database.
func cmdApprovalsList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("approvals list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "data", "data directory")
	addr := fs.String("addr", "127.0.0.1:9095", "server address, used when the database is held by a running server")
	status := fs.String("status", "pending", "only approvals in this status: pending, approved, denied, expired, cancelled")
	all := fs.Bool("all", false, "every approval, whatever its status")
	asJSON := fs.Bool("json", false, "print JSON lines")
	tokenEnv := fs.String("token-env", "FIREBREAK_API_TOKEN", "environment variable holding an API token (viewer or approver role), used with the server's API")
	if err := fs.Parse(args); err != nil {
		return 2
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
	var list []approval.Approval
	db, err := store.Open(*dataDir+"/firebreak.db", store.Options{ReadOnly: true, LockTimeout: 300 * time.Millisecond})
	switch {
	case err == nil:
		list, err = approval.List(context.Background(), db, approval.Filter{Status: st})
		_ = db.Close()
	case errors.Is(err, store.ErrLocked):
		list, err = fetchApprovals(*addr, st, os.Getenv(*tokenEnv))
	}
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

// fetchApprovals asks the running server's API.
func fetchApprovals(addr string, st approval.Status, token string) ([]approval.Approval, error) {
	v := url.Values{}
	v.Set("status", "all")
	if st != "" {
		v.Set("status", string(st))
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/approvals?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the database is in use and the server did not answer: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, fmt.Errorf("server answered %s: set FIREBREAK_API_TOKEN (or --token-env) to a token with the viewer or approver role", resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("server answered %s", resp.Status)
	}
	var out struct {
		Approvals []approval.Approval `json:"approvals"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("decode the server's answer: %w", err)
	}
	return out.Approvals, nil
}
