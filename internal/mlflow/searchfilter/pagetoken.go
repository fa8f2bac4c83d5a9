package searchfilter

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
)

// CreatePageToken encodes an offset the way MLflow's SearchUtils does:
// base64 of the JSON {"offset": n}.
func CreatePageToken(offset int) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"offset": %d}`, offset)))
}

// ParsePageToken decodes a token from CreatePageToken; "" is offset 0.
func ParsePageToken(token string) (int, error) {
	if token == "" {
		return 0, nil
	}
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return 0, invalid("Invalid page token, could not base64-decode")
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, invalid("Invalid page token, decoded value=%s", raw)
	}
	off, ok := v["offset"]
	if !ok {
		return 0, invalid("Invalid page token, parsed value=%s", raw)
	}
	n, err := strconv.Atoi(string(off))
	if err != nil || n < 0 {
		return 0, invalid("Invalid page token, offset %s is not a non-negative integer", off)
	}
	return n, nil
}
