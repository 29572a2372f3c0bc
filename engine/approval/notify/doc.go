// Package notify is the approval gate's contract with whatever tells people
// about an approval (Slack, a webhook, the dashboard): the Notifier
// interface, its optional GroupChecker and Replier, and the values they
// take (Request, State, MessageRef, GuardVerdict, Status).
//
// It is a leaf: it imports only engine/event, so an integration such as
// actions/slack implements the contract without importing the gate
// (engine/approval), which depends on the engine itself. engine/approval
// re-declares every name here as an alias; callers may use either.
//
// It holds declarations only: no behaviour, no state. It must not import
// anything of the project but engine/event, or the integrations would
// depend on more than the contract again.
package notify
