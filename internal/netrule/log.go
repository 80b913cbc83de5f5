package netrule

import (
	"strconv"
	"unicode/utf8"
)

// MaxLogValue bounds a client-supplied value in a log line, in bytes, before escaping.
const MaxLogValue = 256

// LogValue is the client-supplied s (a Host, a path, a User-Agent) as a log line may hold it:
// cut to at most MaxLogValue bytes without splitting a character, then, if it has anything but
// printable ASCII, escaped as a Go string literal without its quotes (strconv.Quote): control
// characters (C0, DEL, C1), bidirectional-text controls and bytes that are not UTF-8 become
// \n, \x1b, \u202e, \xff. So no client can forge, hide or lengthen lines, in JSON or console
// format, nor plant text that a terminal would act on. It allocates only when it escapes.
func LogValue(s string) string {
	if len(s) > MaxLogValue {
		n := MaxLogValue
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			q := strconv.Quote(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}
