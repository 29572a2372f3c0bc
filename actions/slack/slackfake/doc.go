// Package slackfake is a Slack Web API for tests: slack-go's slacktest
// server with recording handlers for chat.postMessage, chat.update,
// chat.postEphemeral, usergroups.users.list and a response_url endpoint
// (under /response/). It checks the bot token the way Slack does and never
// talks to the network beyond 127.0.0.1.
//
// It is imported by tests only; production code must not import it, and it
// must not listen on anything but 127.0.0.1.
package slackfake
