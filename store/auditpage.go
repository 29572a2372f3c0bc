package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/firebreak/firebreak/engine/audit"
)

// AuditPage collects one page of the records matching a query, as
// audit.Record (NewRecordPage, for ListAudit) or audit.Head (NewHeadPage,
// for AuditHeads), from a store's scan of the stored values
// (sha256 ‖ JSON) in sequence order: Visit is the scan's callback. Both
// stores page through it, so their filters, order and cursor are the same.
type AuditPage[T any] struct {
	q       audit.Query
	needles [][]byte
	// keep decodes what the page needs of a stored record and reports
	// whether it matches.
	keep  func(seq uint64, v []byte) (T, bool, error)
	seqOf func(T) uint64
	out   []T
	next  uint64
}

// defaultAuditLimit is a query's page size when it names none.
const defaultAuditLimit = 100

func newAuditPage[T any](q audit.Query, keep func(seq uint64, v []byte) (T, bool, error), seqOf func(T) uint64) *AuditPage[T] {
	if q.Limit <= 0 {
		q.Limit = defaultAuditLimit
	}
	return &AuditPage[T]{q: q, needles: queryNeedles(q), keep: keep, seqOf: seqOf}
}

// NewRecordPage pages through the records matching q, decoded in full.
func NewRecordPage(q audit.Query) *AuditPage[audit.Record] {
	return newAuditPage(q, func(seq uint64, v []byte) (audit.Record, bool, error) {
		r, err := DecodeRecord(seq, v)
		if err != nil {
			return r, false, err
		}
		return r, q.Match(&r), nil
	}, func(r audit.Record) uint64 { return r.Seq })
}

// NewHeadPage pages through the heads of the records matching q. A query
// that filters on the time range and the kind only reads no more of a
// record than the front of its JSON (audit.DecodeHead); one that filters
// on another field decodes each record in full to apply it.
func NewHeadPage(q audit.Query) *AuditPage[audit.Head] {
	keep := func(seq uint64, v []byte) (audit.Head, bool, error) {
		h, err := audit.DecodeHead(v)
		if err != nil {
			return h, false, fmt.Errorf("audit record %d: %w", seq, err)
		}
		return h, q.MatchHead(h), nil
	}
	if !q.HeadOnly() {
		keep = func(seq uint64, v []byte) (audit.Head, bool, error) {
			r, err := DecodeRecord(seq, v)
			if err != nil {
				return audit.Head{}, false, err
			}
			return r.Head(), q.Match(&r), nil
		}
	}
	return newAuditPage(q, keep, func(h audit.Head) uint64 { return h.Seq })
}

// Query is the query paged, its Limit defaulted; the scan reads it.
func (p *AuditPage[T]) Query() audit.Query { return p.q }

// Visit takes the stored value of the record at seq, which may match the
// query, and reports whether the scan should go on (false once the page
// is full and the record after it was seen).
func (p *AuditPage[T]) Visit(seq uint64, v []byte) (bool, error) {
	for _, n := range p.needles {
		if len(v) > sha256.Size && !bytes.Contains(v[sha256.Size:], n) {
			return true, nil // cannot match: skip the decoding
		}
	}
	x, ok, err := p.keep(seq, v)
	if err != nil || !ok {
		return err == nil, err
	}
	if len(p.out) == p.q.Limit {
		p.next = p.seqOf(p.out[len(p.out)-1])
		return false, nil
	}
	p.out = append(p.out, x)
	return true, nil
}

// Result is the page and the cursor for the next one (0 when there is
// none).
func (p *AuditPage[T]) Result() ([]T, uint64) { return p.out, p.next }

// queryNeedles returns, for each exact-match filter of q, the bytes its field must
// contain in a stored record's JSON ("outcome":"failed"), so that records
// which cannot match are skipped without being decoded. A record holding
// the bytes elsewhere (in its message) is still decoded and checked.
func queryNeedles(q audit.Query) [][]byte {
	var out [][]byte
	for _, f := range []struct{ key, val string }{
		{"event_id", q.EventID}, {"playbook", q.Playbook}, {"action", q.Action}, {"kind", string(q.Kind)}, {"outcome", q.Outcome},
	} {
		if f.val == "" {
			continue
		}
		v, err := json.Marshal(f.val)
		if err != nil {
			continue
		}
		out = append(out, append([]byte(`"`+f.key+`":`), v...))
	}
	return out
}

// DecodeRecord decodes the stored value of the audit record at seq:
// sha256(body) ‖ body, as audit.Seal makes it. It does not check the hash
// (VerifyAudit does).
func DecodeRecord(seq uint64, v []byte) (audit.Record, error) {
	var r audit.Record
	if len(v) < sha256.Size {
		return r, fmt.Errorf("audit record %d: %w", seq, audit.ErrChainBroken)
	}
	if err := json.Unmarshal(v[sha256.Size:], &r); err != nil {
		return r, fmt.Errorf("audit record %d: %w", seq, err)
	}
	return r, nil
}
