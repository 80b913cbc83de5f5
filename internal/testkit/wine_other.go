//go:build !windows

package testkit

// wineCleanupError is false: wine runs Windows programs only.
func wineCleanupError(error) bool { return false }

// underWine is false: wine runs Windows programs only.
func underWine() bool { return false }
