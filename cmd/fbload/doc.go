// Command fbload is the whole-process ingest benchmark behind
// `make bench-e2e`: it measures a real `firebreak serve` next to the two
// handlers that bound any receiver, each in its own process on 127.0.0.1.
//
//	fbload run -firebreak ./firebreak [-clients 16,64] [-duration 3s] [-max-events 10000] [-rounds 1]
//	fbload keepup -firebreak ./firebreak [-clients 16] [-duration 60s] [-body am1|am10|falco] [-retention 20s]
//	fbload serve -mode bare|bound -listen 127.0.0.1:0 [-dir DIR]
//
// `run` starts three servers: Firebreak (durable, one `mode: shadow`
// playbook that matches every event, so each event is planned and audited
// without executing), a bare gin handler that only decodes the JSON body,
// and the durable bound (the bare handler plus a group-committed append of
// the body to a preallocated file and one fdatasync shared by every waiting
// request; no durable receiver can answer sooner). The last two are this
// program re-run as `serve`.
//
// For every row (one-alert and ten-alert Alertmanager bodies, single Falco
// events; at each client count) it drives the three targets in turn,
// interleaved and repeated -rounds times, each bounded by -duration and
// -max-events. Every event carries a distinct id, so idempotency absorbs
// nothing. A row reports accepted events/s (from the `accepted` count of
// each 202), the 99th percentile acknowledgement latency, and Firebreak's
// ratio to the bound and to the bare handler. After each Firebreak load it
// polls firebreak_inbox_pending_events until the inbox is drained, and
// reports the end-to-end rate, events posted ÷ (load time + drain time),
// and Firebreak's CPU per event over load and drain, from the utime and
// stime of /proc/PID/stat.
//
// `keepup` (`make bench-keepup`) asks whether the engine keeps up with
// ingest: it loads one Firebreak whose playbook matches every event and
// runs a webhook.notify (executing) against fbload's own receiver, with
// audit retention on (max_age -retention, inbox_max_age half of it), for
// -duration (60 s by default). Every -sample it prints the events
// processed, the inbox backlog, the process's anonymous and file-backed
// resident memory (RssAnon, RssFile of /proc/PID/status: the mapped bbolt
// file is page cache, not the process's memory) and the database file's
// size; at the end a table of accepted, processed and actions per second,
// the backlog at half time and at the end, CPU per processed event, peak
// memory, and the file's size per processed event.
//
// This is a measuring tool, not a test: `make test` does not run it, and
// its figures depend on the machine it runs on.
package main
