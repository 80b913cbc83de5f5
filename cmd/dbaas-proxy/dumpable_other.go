//go:build !linux

package main

// notDumpable does nothing where there is no PR_SET_DUMPABLE.
func notDumpable() error { return nil }
