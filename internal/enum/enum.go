// Package enum reads a config value that must be one of a fixed set, the
// way the collector's own enumerations do (otlphttp's EncodingType): a
// type's UnmarshalText calls Parse, so an unknown value is refused when the
// config is read, with the allowed values in the message.
package enum

import (
	"fmt"
	"slices"
	"strings"
)

// Parse returns text as a T when it is one of allowed.
func Parse[T ~string](text []byte, allowed ...T) (T, error) {
	v := T(text)
	if slices.Contains(allowed, v) {
		return v, nil
	}
	return v, fmt.Errorf("%q: want %s", text, List(allowed...))
}

// List spells the allowed values for a message: "a, b or c".
func List[T ~string](allowed ...T) string {
	s := make([]string, len(allowed))
	for i, a := range allowed {
		s[i] = string(a)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
