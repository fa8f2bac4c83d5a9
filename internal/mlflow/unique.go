package mlflow

import "slices"

// UniqueTags returns tags with each key once, holding the key's last value,
// in the order keys first appear. MLflow's SQL store refuses a runs/create
// whose tags repeat a key (even with the same value) and creates nothing;
// log-batch tolerates repeats, last value winning. Collapsing with the same
// rule keeps both requests deterministic and identical in effect. tags is
// returned as is when no key repeats.
func UniqueTags(tags []Tag) []Tag {
	if len(tags) < 2 {
		return tags
	}
	var last map[string]int
	for i, t := range tags {
		if last == nil {
			// Small inputs are the rule: scan before allocating.
			dup := false
			for _, u := range tags[:i] {
				if u.Key == t.Key {
					dup = true
					break
				}
			}
			if !dup {
				continue
			}
			last = make(map[string]int, len(tags))
			for j, u := range tags[:i] {
				last[u.Key] = j
			}
		}
		last[t.Key] = i
	}
	if last == nil {
		return tags
	}
	out := make([]Tag, 0, len(last))
	emitted := make(map[string]bool, len(last))
	for _, t := range tags {
		if emitted[t.Key] {
			continue
		}
		emitted[t.Key] = true
		out = append(out, tags[last[t.Key]])
	}
	return out
}

// UniqueParams drops exact repeats (same key, same value) of a param, which
// MLflow refuses in one log-batch although they change nothing. Repeats
// with different values are kept: which value a write-once param gets is the
// caller's decision, and the server reports the conflict.
func UniqueParams(params []Param) []Param {
	// A batch holds at most MaxParamsPerBatch params: a quadratic scan
	// costs less than a map, and nothing is allocated without a repeat.
	for i := 1; i < len(params); i++ {
		if slices.Contains(params[:i], params[i]) {
			out := slices.Clone(params[:i])
			for _, p := range params[i+1:] {
				if !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
			return out
		}
	}
	return params
}
