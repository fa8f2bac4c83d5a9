package filestore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// keyValue is one param or tag read back from its file.
type keyValue struct{ key, value string }

// readKeyValues reads a params/ or tags/ folder: one file per key (sub-paths
// for keys with "/"), the raw file content as value, sorted by key. A
// missing folder is empty; files whose path is not a valid key (leftovers of
// other tools) are skipped.
func readKeyValues(dir string) ([]keyValue, error) {
	var out []keyValue
	err := walkKeys(dir, func(path, key string) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out = append(out, keyValue{key: key, value: string(data)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
}

// walkKeys calls fn for every file under dir whose path relative to dir
// is a valid key (a key with "/" is a sub-path). A missing dir is empty;
// files whose path is not a valid key (leftovers of other tools) are skipped.
func walkKeys(dir string, fn func(path, key string) error) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == dir {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if mlflow.ValidateKey(key) != nil {
			return nil
		}
		return fn(path, key)
	})
}

func tagKeySet(tags []mlflow.Tag) map[string]bool {
	set := make(map[string]bool, len(tags))
	for _, t := range tags {
		set[t.Key] = true
	}
	return set
}

// checkKeyFolders fails when one key is a path prefix of another ("a" and
// "a/b"): the file store cannot hold both, as "a" would be a file and a
// folder at once. kind names the keys in the message.
func checkKeyFolders(kind string, keys map[string]bool) error {
	for k := range keys {
		for i := 0; i < len(k); i++ {
			if k[i] == '/' && keys[k[:i]] {
				return invalidParam("%s keys %q and %q cannot both be stored: the first is a folder of the second", kind, k[:i], k)
			}
		}
	}
	return nil
}

// keyPathError is the error for a key whose file path collides with another
// key's or is too long (see isPathConflict); kind is "Tag", "Param" or
// "Metric".
func keyPathError(kind, key string) error {
	return invalidParam("%s key %q cannot be stored: its path collides with another %s key's or is too long", kind, key, strings.ToLower(kind))
}

// writeTag writes tag t of the run or experiment in dir: tags/<key>,
// replaced atomically through a temp file in dir.
func writeTag(dir string, t mlflow.Tag) error {
	err := writeFileAtomic(dir, filepath.Join(dir, tagsDir, filepath.FromSlash(t.Key)), []byte(t.Value), false)
	if isPathConflict(err) {
		return keyPathError("Tag", t.Key)
	}
	if err != nil {
		return fmt.Errorf("write tag %q: %w", t.Key, err)
	}
	return nil
}
