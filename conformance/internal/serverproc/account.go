package serverproc

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// Account is an OS account a server runs as.
type Account struct {
	Name     string
	UID, GID uint32
}

// ServiceAccount returns the account servers should run as: the account
// called name (e.g. "postgres", "mysql", which Debian's packages create)
// when the test binary runs as root, and nil, meaning the test binary's own
// account, otherwise. Postgres refuses to run as root, and MariaDB's rsync
// state transfer writes as "nobody" when started by root.
func ServiceAccount(name string) (*Account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("running as root, and there is no %q account to run the servers as: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("account %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("account %s: gid %q: %w", name, u.Gid, err)
	}
	return &Account{Name: name, UID: uint32(uid), GID: uint32(gid)}, nil
}

// credential is what exec needs to run as a; nil for the nil account.
func (a *Account) credential() *syscall.Credential {
	if a == nil {
		return nil
	}
	// No supplementary groups: the account's own group is enough.
	return &syscall.Credential{Uid: a.UID, Gid: a.GID, Groups: []uint32{}}
}

// Own gives a the directory tree at dir; nothing to do for the nil account.
func (a *Account) Own(dir string) error {
	if a == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(a.UID), int(a.GID))
	})
}
