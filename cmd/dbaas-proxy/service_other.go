//go:build !windows

package main

// runService runs the program as a Windows service when the Service Control Manager started
// it; elsewhere there is no such thing, and it reports false.
func runService(func(system) int, system) (code int, ok bool) { return 0, false }
