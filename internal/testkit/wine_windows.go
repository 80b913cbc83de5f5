package testkit

import (
	"errors"
	"syscall"
)

// errorInvalidFunction is Windows' ERROR_INVALID_FUNCTION, "Invalid function.".
const errorInvalidFunction syscall.Errno = 1

// wineCleanupError reports whether err is wine 8.0's answer to os.RemoveAll (see TempDir) and
// this process runs under wine.
func wineCleanupError(err error) bool {
	return errors.Is(err, errorInvalidFunction) && underWine()
}

// underWine reports whether this process runs under wine, whose ntdll.dll exports
// wine_get_version (Windows' does not).
func underWine() bool {
	return syscall.NewLazyDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}
