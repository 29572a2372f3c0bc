package sources

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// Decoder turns one request body into events.
type Decoder interface {
	// Name is the source name recorded on each event (alertmanager, falco, …).
	Name() string
	// Decode parses body. A body that cannot be used returns a *DecodeError.
	Decode(body []byte, now time.Time) ([]event.Event, error)
}

// DecodeError is a payload problem the sender must fix; the HTTP layer
// answers it with 400 and names Field.
type DecodeError struct {
	Field string
	Msg   string
}

// Error returns "field: message", or the message alone when no field is named.
func (e *DecodeError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// BodyHash returns a stable id for a payload that carries none of its own.
func BodyHash(source string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write(body)
	return source + ":" + hex.EncodeToString(h.Sum(nil))[:32]
}

// Builtin returns a fresh map of the built-in decoders by source name. It is
// the one place that lists them; Generic decoders are built from
// configuration with NewGeneric.
func Builtin() map[string]Decoder {
	ds := []Decoder{
		Alertmanager{},
		Grafana{},
		Falco{},
		Wazuh{},
		Elastic{},
		Splunk{},
		Graylog{},
		Azure{},
	}
	m := make(map[string]Decoder, len(ds))
	for _, d := range ds {
		m[d.Name()] = d
	}
	return m
}

func jsonError(err error) error {
	return &DecodeError{Msg: fmt.Sprintf("malformed JSON: %v", err)}
}
