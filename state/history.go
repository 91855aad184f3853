package state

import (
	"bytes"
	"encoding/json"
	"time"
)

// StatusRecord is a status with the runner that owned the invocation when it
// was set and the moment it was set.
type StatusRecord struct {
	Status Status
	// RunnerID is the owning runner; empty means none (null in JSON).
	RunnerID string
	// Timestamp is when the status was set. Backends keep it to the
	// microsecond and return it in UTC.
	Timestamp time.Time
}

// InvocationHistory is one entry of an invocation's status history.
type InvocationHistory struct {
	// InvocationID is the invocation the entry belongs to. Backend.AddHistory
	// sets it from the ids it is given.
	InvocationID InvocationID
	// Timestamp orders the history and is what time ranges select on. It is
	// kept to the microsecond and returned in UTC.
	Timestamp         time.Time
	StatusRecord      StatusRecord
	RunnerContextID   string
	RegisteredByInvID InvocationID // empty means none (null in JSON)
}

// Validate reports whether h can be stored. field names h in the message.
// The InvocationID is not checked: AddHistory takes ids separately.
func (h InvocationHistory) Validate(field string) error {
	if h.validate("") == nil {
		return nil
	}
	return h.validate(field)
}

// validate is Validate; the field names it builds cost allocations only
// when field is not empty: Validate runs it first with no name, and again
// with field only to explain a failure. A nested value's field, "" + ".X",
// is a constant.
func (h InvocationHistory) validate(field string) error {
	if err := ValidateTimestamp(field+".Timestamp", h.Timestamp); err != nil {
		return err
	}
	if !h.StatusRecord.Status.Valid() {
		return Invalid(field+".StatusRecord.Status", "unknown status "+quote(string(h.StatusRecord.Status)))
	}
	if err := ValidateTimestamp(field+".StatusRecord.Timestamp", h.StatusRecord.Timestamp); err != nil {
		return err
	}
	if err := ValidateKey(field+".StatusRecord.RunnerID", h.StatusRecord.RunnerID); err != nil {
		return err
	}
	if err := ValidateKey(field+".RunnerContextID", h.RunnerContextID); err != nil {
		return err
	}
	return ValidateKey(field+".RegisteredByInvID", string(h.RegisteredByInvID))
}

// MarshalJSON encodes the record in pynenc's form, so records can be
// exchanged with Python:
//
//	{"invocation_id":"inv-1","_timestamp":"2025-01-15T12:10:00.123456+00:00",
//	 "status_record":{"status":"running","runner_id":null,"timestamp":"..."},
//	 "runner_context_id":"runner-1","registered_by_inv_id":null}
func (h InvocationHistory) MarshalJSON() ([]byte, error) {
	return h.AppendJSON(make([]byte, 0, 256)), nil
}

// AppendJSON appends the JSON form of h (see MarshalJSON) to b.
func (h InvocationHistory) AppendJSON(b []byte) []byte {
	b = append(b, `{"invocation_id":`...)
	b = appendJSONString(b, string(h.InvocationID))
	b = append(b, `,"_timestamp":"`...)
	b = AppendTimestamp(b, h.Timestamp)
	b = append(b, `","status_record":`...)
	b = h.StatusRecord.AppendJSON(b)
	b = append(b, `,"runner_context_id":`...)
	b = appendJSONString(b, h.RunnerContextID)
	b = append(b, `,"registered_by_inv_id":`...)
	b = appendNullable(b, string(h.RegisteredByInvID))
	return append(b, '}')
}

// UnmarshalJSON decodes pynenc's form. Timestamps may end in "Z", "+00:00" or
// another offset, or carry no zone (read as UTC).
func (h *InvocationHistory) UnmarshalJSON(data []byte) error {
	if decodeCanonical(data, h) {
		return nil
	}
	return decodeGeneric(data, h)
}

// decodeGeneric decodes any JSON form of a history record.
func decodeGeneric(data []byte, h *InvocationHistory) error {
	var raw struct {
		InvocationID      *string         `json:"invocation_id"`
		Timestamp         *string         `json:"_timestamp"`
		StatusRecord      json.RawMessage `json:"status_record"`
		RunnerContextID   *string         `json:"runner_context_id"`
		RegisteredByInvID *string         `json:"registered_by_inv_id"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Invalid("history JSON", err.Error())
	}
	if raw.InvocationID == nil {
		return Invalid("history JSON", "missing invocation_id")
	}
	if raw.Timestamp == nil {
		return Invalid("history JSON", "missing _timestamp")
	}
	ts, err := ParseTimestamp(*raw.Timestamp)
	if err != nil {
		return err
	}
	if len(raw.StatusRecord) == 0 || bytes.Equal(raw.StatusRecord, []byte("null")) {
		return Invalid("history JSON", "missing status_record")
	}
	var sr StatusRecord
	if err := sr.UnmarshalJSON(raw.StatusRecord); err != nil {
		return err
	}
	*h = InvocationHistory{
		InvocationID:      InvocationID(*raw.InvocationID),
		Timestamp:         ts,
		StatusRecord:      sr,
		RunnerContextID:   deref(raw.RunnerContextID),
		RegisteredByInvID: InvocationID(deref(raw.RegisteredByInvID)),
	}
	return nil
}

// MarshalJSON encodes the record as pynenc's InvocationStatusRecord.to_json:
// {"status":"running","runner_id":null,"timestamp":"..."}.
func (r StatusRecord) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// AppendJSON appends the JSON form of r (see MarshalJSON) to b.
func (r StatusRecord) AppendJSON(b []byte) []byte {
	b = append(b, `{"status":`...)
	b = appendJSONString(b, string(r.Status))
	b = append(b, `,"runner_id":`...)
	b = appendNullable(b, r.RunnerID)
	b = append(b, `,"timestamp":"`...)
	b = AppendTimestamp(b, r.Timestamp)
	return append(b, `"}`...)
}

// UnmarshalJSON decodes pynenc's form; an unknown status is an error wrapping
// ErrInvalidArgument.
func (r *StatusRecord) UnmarshalJSON(data []byte) error {
	var raw struct {
		Status    *string `json:"status"`
		RunnerID  *string `json:"runner_id"`
		Timestamp *string `json:"timestamp"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Invalid("status record JSON", err.Error())
	}
	if raw.Status == nil || !Status(*raw.Status).Valid() {
		return Invalid("status record JSON", "missing or unknown status")
	}
	if raw.Timestamp == nil {
		return Invalid("status record JSON", "missing timestamp")
	}
	ts, err := ParseTimestamp(*raw.Timestamp)
	if err != nil {
		return err
	}
	*r = StatusRecord{Status: Status(*raw.Status), RunnerID: deref(raw.RunnerID), Timestamp: ts}
	return nil
}

// appendNullable appends s as a JSON string, or null when s is empty.
func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(b []byte, s string) []byte {
	if isPlainASCII(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	enc, _ := json.Marshal(s) // cannot fail for a string
	return append(b, enc...)
}

// isPlainASCII reports whether s can be written between quotes unescaped.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
