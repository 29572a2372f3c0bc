// Package sources turns the bodies that monitoring and security systems POST
// into normalised events. Decoders are pure functions of the body and the
// receive time: no I/O, no logging, and they never panic, whatever the bytes.
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

func jsonError(err error) error {
	return &DecodeError{Msg: fmt.Sprintf("malformed JSON: %v", err)}
}
