package netrule

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// EscapedPath returns the path of u in the one escaped form dbaas-proxy both judges and
// forwards: as the client sent it (%2F stays %2F), but a byte net/http accepts raw where a path
// may not hold it (a '"', a '{', a space, UTF-8) percent-encoded alone, upper-case hex.
func EscapedPath(u *url.URL) string {
	if u.RawPath != "" {
		return escapeInvalid(u.RawPath)
	}
	return u.EscapedPath()
}

// escapeInvalid percent-encodes the bytes net/url does not accept raw, keeping every escape.
func escapeInvalid(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~!$&'()*+,;=:@[]/%", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Stem is a path segment read the loosest way a server might: cut at its first ";" and at its
// first "." after the start, without trailing spaces, tabs or NULs, raw or percent-encoded, so
// deny rules refuse "/x.json" or "/x;a=b" where they refuse "/x". "." and ".." are kept.
func Stem(s string) string {
	s, _, _ = strings.Cut(s, ";")
	if i := strings.IndexByte(s, '.'); i > 0 {
		s = s[:i]
	}
	for {
		t := strings.TrimRight(s, " \t\x00")
		for _, esc := range []string{"%20", "%09", "%00"} {
			t = strings.TrimSuffix(t, esc)
		}
		if t == s {
			return s
		}
		s = t
	}
}

// LoosePath is the escaped path p with each segment replaced by its Stem and empty segments
// (a doubled or final "/") dropped: "/x/", "/x;a=b", "/x%20" and "/x.json" all read "/x".
func LoosePath(p string) string {
	var b strings.Builder
	for _, s := range strings.Split(p, "/") {
		if s = Stem(s); s != "" {
			b.WriteByte('/')
			b.WriteString(s)
		}
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// MaxLogValue bounds a client-supplied value in a log line, in bytes, before escaping.
const MaxLogValue = 256

// LogValue is the client-supplied s (a Host, a path, a User-Agent) as a log line may hold it:
// cut to MaxLogValue bytes without splitting a character and, unless all printable ASCII,
// escaped as by strconv.Quote without the quotes (\n, \x1b, \u202e, \xff), so that no client
// can forge, hide or lengthen lines nor plant terminal controls. It allocates only to escape.
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
