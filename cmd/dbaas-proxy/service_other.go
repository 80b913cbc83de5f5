//go:build !windows

package main

// runService reports false: only Windows has a Service Control Manager.
func runService(func(system) int, system) (code int, ok bool) { return 0, false }
