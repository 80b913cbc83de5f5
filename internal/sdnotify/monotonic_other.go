//go:build !linux

package sdnotify

// reloadingState is "RELOADING=1": systemd runs on Linux only, so no monotonic time is needed.
func reloadingState() string { return "RELOADING=1" }
