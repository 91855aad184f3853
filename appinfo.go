package statebackend

import (
	"context"
	"encoding/json"
	"fmt"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/state"
)

// StoreAppInfo implements Backend.
func (s *Store) StoreAppInfo(ctx context.Context, info AppInfo) (err error) {
	c := s.begin(ctx, op.StoreAppInfo)
	defer c.end(&err)
	if err := info.Validate("info"); err != nil {
		return err
	}
	doc, err := json.Marshal(info)
	if err != nil {
		return state.Invalid("info", err.Error())
	}
	row := entities.AppInfo{AppID: entities.Key(info.AppID), AppInfoJSON: entities.Text(doc)}
	return c.write(func(db *gorm.DB) error {
		return s.repo.StoreAppInfo(db, row)
	})
}

// AppInfo implements Backend.
func (s *Store) AppInfo(ctx context.Context, appID string) (_ AppInfo, err error) {
	c := s.begin(ctx, op.AppInfo)
	defer c.end(&err)
	if err := state.ValidateRequiredKey("appID", appID); err != nil {
		return AppInfo{}, err
	}
	var row entities.AppInfo
	var found bool
	err = c.read(func(db *gorm.DB) (err error) {
		row, found, err = s.repo.AppInfo(db, appID)
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
func (s *Store) DiscoverAppInfos(ctx context.Context) (_ map[string]AppInfo, err error) {
	c := s.begin(ctx, op.DiscoverAppInfos)
	defer c.end(&err)
	var rows []entities.AppInfo
	err = c.readReplica(nil, func(db *gorm.DB) (err error) {
		rows, err = s.repo.DiscoverAppInfos(db)
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
	c.tel.Returned(len(out))
	return out, nil
}

func appInfoFromRow(row entities.AppInfo) (AppInfo, error) {
	var info AppInfo
	if err := json.Unmarshal([]byte(row.AppInfoJSON), &info); err != nil {
		return AppInfo{}, fmt.Errorf("statebackend: stored app info %q is malformed: %w", row.AppID, err)
	}
	return info, nil
}
