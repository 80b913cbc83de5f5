package inbound

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// hasDotSegment reports whether p, an escaped path, holds a segment that is "." or "..",
// literally or percent-encoded (%2e, %2E, mixed). "/", "\", "%2F" and "%5C" all separate
// segments, and a ";" ends a segment's name ("..;x" counts), since servers differ on them.
func hasDotSegment(p string) bool {
	dots, other, inName := 0, false, true
	for i, n := 0, 1; i < len(p); i += n {
		var c byte
		c, n = byteAt(p, i)
		switch {
		case c == '/' || c == '\\':
			if dots > 0 && dots <= 2 && !other {
				return true
			}
			dots, other, inName = 0, false, true
		case !inName:
		case c == ';':
			inName = false
		case c == '.':
			dots++
		default:
			other = true
		}
	}
	return dots > 0 && dots <= 2 && !other
}

// ambiguousForRules reports whether p, an escaped path, is ambiguous to regular expressions:
// "%2F", "%5C", "\", "//", an encoded unreserved character (the upstream reads it plain),
// "%25" ("%252e"), an encoded control character or bytes that are not UTF-8 ("%c0%ae").
func ambiguousForRules(p string) bool {
	if dec, err := url.PathUnescape(p); err != nil || !utf8.ValidString(dec) {
		return true
	}
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			return true
		case '/':
			if i+1 < len(p) && p[i+1] == '/' {
				return true
			}
		case '%':
			if c, n := byteAt(p, i); n == 3 && (c == '/' || c == '\\' || c == '%' || c < 0x20 || c == 0x7f || unreserved(c)) {
				return true
			}
		}
	}
	return false
}

// byteAt returns the byte at p[i], decoding a valid "%XX" escape, and how many bytes it took.
func byteAt(p string, i int) (byte, int) {
	if p[i] == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
		n, _ := strconv.ParseUint(p[i+1:i+3], 16, 8)
		return byte(n), 3
	}
	return p[i], 1
}

func isHex(c byte) bool {
	return strings.IndexByte("0123456789abcdefABCDEF", c) >= 0
}

// unreserved reports whether c is an RFC 3986 unreserved character.
func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func matchAny(res []*regexp.Regexp, s string) bool {
	return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(s) })
}
