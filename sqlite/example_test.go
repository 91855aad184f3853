package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/sqlite"
)

// A database opened read-only reads as usual and refuses writes at once
// with ErrReadOnly. statebackend.WithReadOnly() opens the file read-only
// too (as sqlite.ReadOnly() does), so it also reads a file the process may
// not write, and changes no byte of it.
func Example_readOnly() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "state.db")
	ctx := context.Background()

	writer, err := statebackend.Open(sqlite.Open(path))
	if err != nil {
		panic(err)
	}
	_ = writer.SetResult(ctx, "inv-1", []byte("42"))
	_ = writer.Close()

	reader, err := statebackend.Open(sqlite.Open(path), statebackend.WithReadOnly())
	if err != nil {
		panic(err)
	}
	defer reader.Close()
	result, _ := reader.Result(ctx, "inv-1")
	fmt.Printf("result: %s\n", result)
	err = reader.SetResult(ctx, "inv-2", []byte("43"))
	fmt.Println(errors.Is(err, statebackend.ErrReadOnly), err)
	// Output:
	// result: 42
	// true statebackend: SetResult: database is read-only
}
