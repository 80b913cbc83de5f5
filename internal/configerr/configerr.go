// Package configerr is the one shape of a configuration problem (key, source, problem, fix),
// read as fields by validate, doctor and tests. It imports nothing of the project.
package configerr

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one configuration problem.
type Error struct {
	// Key is the full dotted key ("inbound.clients[0].name"); "" for the whole document.
	Key string
	// Problem says what is wrong, quoting the value.
	Problem string
	// Hint says how to fix it; "" when Problem already says.
	Hint string
	// Source is where the value came from: "config.yaml:12", "flag -listen" or "environment
	// variable DBAAS_PROXY_LISTEN"; "config.yaml" for a missing key; "" until located.
	Source string
	// Line is the line of the key in the file named by Source; 0 when not on a line.
	Line int
}

// Newf returns a problem of key, with the message formatted as by fmt.Sprintf.
func Newf(key, format string, args ...any) *Error {
	return &Error{Key: key, Problem: fmt.Sprintf(format, args...)}
}

// Error formats the problem as "source: key: problem; hint".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source + ": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Problem)
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	return b.String()
}

// List flattens err (an *Error, an errors.Join of them, or a tree of joins) into its
// problems. An error that is not an *Error becomes one with no key, so nothing is lost.
func List(err error) []*Error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*Error
		for _, e := range j.Unwrap() {
			out = append(out, List(e)...)
		}
		return out
	}
	var ce *Error
	if errors.As(err, &ce) {
		return []*Error{ce}
	}
	return []*Error{{Problem: err.Error()}}
}

// Join joins problems into one error (nil when there are none), in the given order.
func Join(problems []*Error) error {
	if len(problems) == 0 {
		return nil
	}
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// Closest returns the candidate nearest to word by edit distance, when it is near enough to
// be a typo (at most 2 edits, and fewer than half of word's length); else "".
func Closest(word string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := distance(word, c); d < bestD && 2*d < len(word) {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b, in bytes.
func distance(a, b string) int {
	row := make([]int, len(b)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		prev := row[0]
		row[0] = i
		for j := 1; j <= len(b); j++ {
			cur := row[j]
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			row[j] = min(row[j]+1, row[j-1]+1, prev+cost)
			prev = cur
		}
	}
	return row[len(b)]
}
