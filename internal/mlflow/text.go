package mlflow

import (
	"net/url"
	"strings"
)

// TruncateRunes cuts s to at most n characters without splitting a UTF-8
// sequence: MLflow counts its length limits in characters, not bytes.
func TruncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// Quote64 shortens s for an error message: a user-supplied id or key can be
// arbitrarily long, and an error that repeats it in full floods the log.
func Quote64(s string) string {
	const limit = 64
	if t := TruncateRunes(s, limit); len(t) < len(s) {
		return t + "..."
	}
	return s
}

// RedactURI makes a tracking URI safe to log or put in an error. Userinfo is
// dropped altogether rather than masked (Go's url.Redacted keeps the user
// name, and tokens are often passed as the user name), and query values are
// blanked because some proxies take their token there. Paths and file: URIs
// pass unchanged.
func RedactURI(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		// Unparseable: cut everything up to the last '@' after the scheme,
		// where a password would sit.
		if at := strings.LastIndexByte(raw, '@'); at >= 0 {
			if j := strings.Index(raw, "://"); j >= 0 && j < at {
				return raw[:j+3] + raw[at+1:]
			}
			return raw[at+1:]
		}
		return raw
	}
	if u.User == nil && u.RawQuery == "" {
		return raw
	}
	u.User = nil
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"redacted"}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}
