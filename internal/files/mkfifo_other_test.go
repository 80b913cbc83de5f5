//go:build !unix

package files

import "errors"

// mkfifo is not called on Windows: it has no FIFOs in the file system.
func mkfifo(string) error { return errors.New("no FIFOs on this OS") }
