package netrule

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLogValue bounds a client-supplied value in a log line, in bytes.
const MaxLogValue = 256

// LogValue is the client-supplied s (a Host, a path, a User-Agent) as a log line may hold it:
// control characters (C0, DEL, C1), bidirectional-text controls and bytes that are not UTF-8
// written as \uXXXX or \xXX, and the result cut to at most MaxLogValue bytes without splitting
// a character. So no client can forge, hide or lengthen lines, in JSON or console format, nor
// plant text that a terminal or a shell would run. It allocates only when it changes s.
func LogValue(s string) string {
	plain := len(s) <= MaxLogValue
	for i := 0; plain && i < len(s); i++ {
		plain = s[i] >= 0x20 && s[i] < 0x7f
	}
	if plain {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		e := string(r)
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			e = fmt.Sprintf(`\x%02x`, s[i])
		case r < 0x20 || r >= 0x7f && r < 0xa0 || r == 0x61c || r == 0x200e || r == 0x200f ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069:
			e = fmt.Sprintf(`\u%04x`, r)
		}
		if b.Len()+len(e) > MaxLogValue {
			break
		}
		b.WriteString(e)
	}
	return b.String()
}
