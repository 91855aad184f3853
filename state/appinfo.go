package state

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// AppInfo describes a pynenc application, registered so monitors can
// discover the apps that share a database.
type AppInfo struct {
	AppID  string
	Module string
	// ConfigValues round-trips as JSON, with numbers kept exactly and of
	// their kind, as Python tells ints from floats: Go integers and JSON
	// integers (no fraction, no exponent) read back as int64, or as a
	// json.Number holding the exact digits when they do not fit in an int64;
	// Go floats and JSON numbers with a fraction or an exponent read back as
	// float64 (a float with an integral value is written "2.0", as Python
	// does).
	ConfigValues   map[string]any
	ConfigFilepath string
	ModuleFilepath string
	AppVariable    string
}

// Validate reports whether info can be stored.
func (info AppInfo) Validate(field string) error {
	if err := ValidateRequiredKey(field+".AppID", info.AppID); err != nil {
		return err
	}
	for _, f := range []struct{ name, value string }{
		{".Module", info.Module}, {".ConfigFilepath", info.ConfigFilepath},
		{".ModuleFilepath", info.ModuleFilepath}, {".AppVariable", info.AppVariable},
	} {
		if err := ValidateText(field+f.name, f.value); err != nil {
			return err
		}
	}
	if _, err := json.Marshal(info.ConfigValues); err != nil {
		return Invalid(field+".ConfigValues", "not encodable as JSON: "+err.Error())
	}
	return nil
}

// appInfoJSON is pynenc's AppInfo.to_json form; None is null.
type appInfoJSON struct {
	AppID          string         `json:"app_id"`
	Module         string         `json:"module"`
	ConfigValues   map[string]any `json:"config_values"`
	ConfigFilepath *string        `json:"config_filepath"`
	ModuleFilepath *string        `json:"module_filepath"`
	AppVariable    *string        `json:"app_variable"`
}

// MarshalJSON encodes info as pynenc does; empty optional fields are null.
func (info AppInfo) MarshalJSON() ([]byte, error) {
	var config map[string]any
	if info.ConfigValues != nil {
		config = markFloats(info.ConfigValues).(map[string]any)
	}
	return json.Marshal(appInfoJSON{
		AppID: info.AppID, Module: info.Module, ConfigValues: config,
		ConfigFilepath: nullable(info.ConfigFilepath), ModuleFilepath: nullable(info.ModuleFilepath),
		AppVariable: nullable(info.AppVariable),
	})
}

// UnmarshalJSON decodes pynenc's form.
func (info *AppInfo) UnmarshalJSON(data []byte) error {
	var raw appInfoJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // integers beyond 2^53 must not pass through float64
	if err := dec.Decode(&raw); err != nil {
		return Invalid("app info JSON", err.Error())
	}
	if dec.More() {
		return Invalid("app info JSON", "data after the document")
	}
	for k, v := range raw.ConfigValues {
		raw.ConfigValues[k] = exactNumbers(v)
	}
	*info = AppInfo{
		AppID: raw.AppID, Module: raw.Module, ConfigValues: raw.ConfigValues,
		ConfigFilepath: deref(raw.ConfigFilepath), ModuleFilepath: deref(raw.ModuleFilepath),
		AppVariable: deref(raw.AppVariable),
	}
	return nil
}

// exactNumbers replaces, in a value decoded with UseNumber, every number by
// an int64 when it is an integer that fits, by a float64 when it has a
// fraction or an exponent, and keeps the json.Number of a larger integer.
func exactNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		s := v.String()
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i
			}
			return v
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v
	case map[string]any:
		for k, e := range v {
			v[k] = exactNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = exactNumbers(e)
		}
	}
	return v
}

// markFloats returns a copy of v in which every float is a pyFloat, so that
// integral floats keep a fraction in JSON and read back as floats.
func markFloats(v any) any {
	switch v := v.(type) {
	case float64:
		return pyFloat(v)
	case float32:
		return pyFloat(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = markFloats(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = markFloats(e)
		}
		return out
	}
	return v
}

// pyFloat is a float written as Python writes one: "2.0", not "2".
type pyFloat float64

// MarshalJSON implements json.Marshaler.
func (f pyFloat) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(float64(f))
	if err == nil && !bytes.ContainsAny(b, ".eE") {
		b = append(b, ".0"...)
	}
	return b, err
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
