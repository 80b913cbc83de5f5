//go:build !unix

package files

// noFollow is 0 where open has no such flag: OpenAppend's Lstat checks do the work.
const noFollow = 0
