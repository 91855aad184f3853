package statebackend

import (
	"context"
	"encoding/json"
	"fmt"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/state"
)

// StoreAppInfo implements Backend.
func (b *gormBackend) StoreAppInfo(ctx context.Context, info AppInfo) (err error) {
	ctx, c := b.tel.start(ctx, opStoreAppInfo)
	defer c.end(&err)
	if err := info.Validate("info"); err != nil {
		return err
	}
	doc, err := json.Marshal(info)
	if err != nil {
		return state.Invalid("info", err.Error())
	}
	row := entities.AppInfo{AppID: entities.Key(info.AppID), AppInfoJSON: entities.Text(doc)}
	return b.write(ctx, "StoreAppInfo", func(db *gorm.DB) error {
		return b.repo.StoreAppInfo(db, row)
	})
}

// AppInfo implements Backend.
func (b *gormBackend) AppInfo(ctx context.Context, appID string) (_ AppInfo, err error) {
	ctx, c := b.tel.start(ctx, opAppInfo)
	defer c.end(&err)
	if err := state.ValidateRequiredKey("appID", appID); err != nil {
		return AppInfo{}, err
	}
	var row entities.AppInfo
	var found bool
	err = b.read(ctx, "AppInfo", func(db *gorm.DB) (err error) {
		row, found, err = b.repo.AppInfo(db, appID)
		return err
	})
	if err != nil {
		return AppInfo{}, err
	}
	if !found {
		return AppInfo{}, state.NotFound("app info", appID)
	}
	return appInfoFromRow(row)
}

// DiscoverAppInfos implements Backend.
func (b *gormBackend) DiscoverAppInfos(ctx context.Context) (_ map[string]AppInfo, err error) {
	ctx, c := b.tel.start(ctx, opDiscoverAppInfos)
	defer c.end(&err)
	var rows []entities.AppInfo
	err = b.readReplica(ctx, "DiscoverAppInfos", nil, func(db *gorm.DB) (err error) {
		rows, err = b.repo.DiscoverAppInfos(db)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]AppInfo, len(rows))
	for _, row := range rows {
		info, err := appInfoFromRow(row)
		if err != nil {
			return nil, err
		}
		out[info.AppID] = info
	}
	c.returned(len(out))
	return out, nil
}

func appInfoFromRow(row entities.AppInfo) (AppInfo, error) {
	var info AppInfo
	if err := json.Unmarshal([]byte(row.AppInfoJSON), &info); err != nil {
		return AppInfo{}, fmt.Errorf("statebackend: stored app info %q is malformed: %w", row.AppID, err)
	}
	return info, nil
}

// Purge implements Backend.
func (b *gormBackend) Purge(ctx context.Context) (err error) {
	ctx, c := b.tel.start(ctx, opPurge)
	defer c.end(&err)
	var deleted map[string]int64
	err = b.write(ctx, "Purge", func(db *gorm.DB) (err error) {
		deleted, err = b.repo.Purge(db)
		return err
	})
	if err == nil {
		c.pruned(deleted)
	}
	return err
}
