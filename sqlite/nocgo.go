//go:build !cgo

package sqlite

// This package needs cgo: github.com/mattn/go-sqlite3 compiles SQLite's C
// sources. Build with CGO_ENABLED=1 and a C compiler, or import only the
// postgres or mysql package, which need no cgo. The undefined name below
// makes the build stop with that advice instead of with the driver's
// missing symbols.
var _ = sqlite_package_needs_cgo__set_CGO_ENABLED_1_or_use_postgres_or_mysql
