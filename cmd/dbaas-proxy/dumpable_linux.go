package main

import "golang.org/x/sys/unix"

// notDumpable turns PR_SET_DUMPABLE off: no core file, and no ptrace or /proc/PID/mem by
// processes of the same user, can hold the API key or a token. It returns the error.
func notDumpable() error { return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }
