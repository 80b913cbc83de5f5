//go:build unix

package files

import "syscall"

// noFollow makes the open of log.file fail on a symbolic link.
const noFollow = syscall.O_NOFOLLOW
