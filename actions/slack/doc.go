// Package slack is Firebreak's Slack integration. It owns the slack.notify
// action (a Block Kit message per event, with follow-ups for the same
// incident threaded under the first message) and the primitives the approval
// gate is built from: posting and updating approval messages, ephemeral
// "not allowed" replies and user-group membership checks. It is the outbound
// side only: the callback Slack sends when a button is clicked (its v0
// signature and its block_actions payload) is package web's, which reads
// the button ids declared here (ActionApprove, ActionBreakerReset, …).
//
// The package talks to Slack only through github.com/slack-go/slack and
// never decides anything: who may approve, when an approval expires and what
// runs afterwards belong to the engine. It must not log or return the bot
// token, and it renders every value that comes from an event as escaped
// text, because security events carry attacker-controlled strings.
package slack
