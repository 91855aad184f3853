package serverproc

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
)

// tailBytes bounds how much of a log LogTail reads.
const tailBytes = 64 << 10

// LogTail returns the last n lines of the log at path, formatted to follow
// an error message ("\nlast n lines of PATH:\n\t..."), or a note saying the
// log is empty or unreadable.
func LogTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "\n(log unavailable: " + err.Error() + ")"
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Size() > tailBytes {
		_, _ = f.Seek(-tailBytes, io.SeekEnd)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return "\n(log unreadable: " + err.Error() + ")"
	}
	lines := strings.Split(string(bytes.TrimRight(data, "\n")), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return fmt.Sprintf("\n(%s is empty)", path)
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("\nlast %d lines of %s:\n\t%s", len(lines), path, strings.Join(lines, "\n\t"))
}
