package memorybackend

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/taskstate/statebackend/state"
)

// App infos are kept as JSON, as the SQL backends store them. That is also
// the simplest deep copy of ConfigValues, and it gives the documented
// round trip (numbers read back as float64) on every backend alike.

// StoreAppInfo implements state.Backend. The info is stored in this app's
// data, under info.AppID.
func (b *Backend) StoreAppInfo(ctx context.Context, info state.AppInfo) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	if err := info.Validate("info"); err != nil {
		return err
	}
	doc, err := json.Marshal(info)
	if err != nil {
		return state.Invalid("info", err.Error())
	}
	b.write(func(a *app) { a.appInfos[info.AppID] = doc })
	return nil
}

// AppInfo implements state.Backend. It reads this app's data only.
func (b *Backend) AppInfo(ctx context.Context, appID string) (state.AppInfo, error) {
	if err := b.check(ctx); err != nil {
		return state.AppInfo{}, err
	}
	if err := state.ValidateRequiredKey("appID", appID); err != nil {
		return state.AppInfo{}, err
	}
	var doc []byte
	var ok bool
	b.read(func(a *app) { doc, ok = a.appInfos[appID] })
	if !ok {
		return state.AppInfo{}, state.NotFound("app info", appID)
	}
	return decodeAppInfo(appID, doc)
}

// DiscoverAppInfos implements state.Backend: it reads every app of the
// Store, not only this one.
func (b *Backend) DiscoverAppInfos(ctx context.Context) (map[string]state.AppInfo, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	docs := make(map[string][]byte)
	b.store.mu.RLock()
	// Apps in a fixed order, so an info stored by two apps under one app id
	// resolves the same way every time.
	for _, appID := range slices.Sorted(maps.Keys(b.store.apps)) {
		maps.Copy(docs, b.store.apps[appID].appInfos)
	}
	b.store.mu.RUnlock()
	out := make(map[string]state.AppInfo, len(docs))
	for appID, doc := range docs {
		info, err := decodeAppInfo(appID, doc)
		if err != nil {
			return nil, err
		}
		out[appID] = info
	}
	return out, nil
}

// decodeAppInfo decodes an info stored by StoreAppInfo. Stored documents are
// never modified, only replaced, so this may run outside the lock.
func decodeAppInfo(appID string, doc []byte) (state.AppInfo, error) {
	var info state.AppInfo
	if err := json.Unmarshal(doc, &info); err != nil {
		return state.AppInfo{}, fmt.Errorf("memorybackend: stored app info %q is malformed: %w", appID, err)
	}
	return info, nil
}
