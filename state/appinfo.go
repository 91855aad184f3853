package state

import (
	"encoding/json"
)

// AppInfo describes a pynenc application, registered so monitors can
// discover the apps that share a database.
type AppInfo struct {
	AppID  string
	Module string
	// ConfigValues round-trips as JSON: numbers read back as float64.
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
	return json.Marshal(appInfoJSON{
		AppID: info.AppID, Module: info.Module, ConfigValues: info.ConfigValues,
		ConfigFilepath: nullable(info.ConfigFilepath), ModuleFilepath: nullable(info.ModuleFilepath),
		AppVariable: nullable(info.AppVariable),
	})
}

// UnmarshalJSON decodes pynenc's form.
func (info *AppInfo) UnmarshalJSON(data []byte) error {
	var raw appInfoJSON
	if err := json.Unmarshal(data, &raw); err != nil {
		return Invalid("app info JSON", err.Error())
	}
	*info = AppInfo{
		AppID: raw.AppID, Module: raw.Module, ConfigValues: raw.ConfigValues,
		ConfigFilepath: deref(raw.ConfigFilepath), ModuleFilepath: deref(raw.ModuleFilepath),
		AppVariable: deref(raw.AppVariable),
	}
	return nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
