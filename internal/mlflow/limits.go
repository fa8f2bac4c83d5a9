package mlflow

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits the real tracking server enforces (mlflow/utils/validation.py).
// Exceeding a per-batch limit fails the whole call with 400, so clients split.
const (
	MaxMetricsPerBatch  = 1000
	MaxParamsPerBatch   = 100
	MaxTagsPerBatch     = 100
	MaxEntitiesPerBatch = 1000
	MaxBatchBytes       = 1_000_000

	MaxKeyLength            = 250
	MaxParamValueLength     = 6000
	MaxTagValueLength       = 5000 // 2.x; newer servers allow 8000, we keep the lowest
	MaxExperimentNameLength = 500
)

// ValidKeyRune reports whether r may appear in a metric, param or tag key:
// Python's \w (Unicode letters and numbers, '_'), '-', '.', '/', and space.
// ':' is left out because MLflow before 2.17 rejects it; combining marks are
// not \w in Python and are rejected too.
func ValidKeyRune(r rune) bool {
	switch r {
	case '_', '-', '.', '/', ' ':
		return true
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r)
}

// ValidateKey applies MLflow's key rules: allowed characters, at most 250
// characters, unchanged by POSIX path normalisation (no leading or trailing
// '/', no empty, '.' or '..' segment), and not starting with "..".
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("invalid key %q: empty", key)
	}
	if n := utf8.RuneCountInString(key); n > MaxKeyLength {
		return fmt.Errorf("invalid key %q: %d characters, limit %d", Quote64(key), n, MaxKeyLength)
	}
	for _, r := range key {
		if !ValidKeyRune(r) {
			return fmt.Errorf("invalid key %q: character %q not allowed", key, r)
		}
	}
	if strings.HasPrefix(key, "..") {
		return fmt.Errorf("invalid key %q: starts with \"..\"", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("invalid key %q: not a normalised relative path", key)
		}
	}
	return nil
}
