// Package sources turns the bodies that monitoring and security systems POST
// into normalised events (engine/event.Event).
//
// Each sender has one Decoder type, one file: Alertmanager, Grafana, Falco
// (through falcosidekick), Wazuh, Elastic (the Kibana webhook connector with
// the body template in testdata/kibana-body.mustache), Splunk, Graylog and
// Azure Monitor, plus Generic, configured with expr expressions for any other
// JSON sender. Builtin lists the built-in decoders by name in one place.
//
// Every decoder maps the sender's severity onto one scale (critical, high,
// warning, info), fills the entity fields actions use (namespace, workload,
// pod, host, src_ip, dst_ip, user) where the payload has them, keeps the rest
// under Fields, and gives each event a stable ID taken from the payload or,
// failing that, BodyHash of the body, so a redelivery gets the same ID.
//
// Decoders are pure functions of the body and the receive time. They do no
// I/O and no logging, keep no state between calls, are safe for concurrent
// use, and never panic, whatever the bytes. They are lenient about unknown
// fields and odd scalar types (a number where a string is expected) and
// strict about what they need: a body they cannot use returns a *DecodeError
// that names the field. This package must not know about HTTP,
// authentication or the store.
package sources
