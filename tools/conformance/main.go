// Command conformance records how a real MLflow tracking server answers
// the cases of internal/conformance, one normalised JSON file per case:
//
//	go run ./tools/conformance -url http://127.0.0.1:5029 -out testdata/conformance/2.9.2
//
// Run it twice against the same server: the files must not change.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/conformance"
)

func main() {
	url := flag.String("url", "", "MLflow tracking server base URL (required)")
	out := flag.String("out", "", "directory for the recordings, testdata/conformance/<version> (required)")
	run := flag.String("run", "", "only cases whose name matches this regular expression")
	flag.Parse()
	if *url == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := record(*url, *out, *run); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

func record(url, out, only string) error {
	re, err := regexp.Compile(only)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	client := &http.Client{Timeout: 60 * time.Second}
	n := 0
	for _, c := range conformance.Cases {
		if !re.MatchString(c.Name) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		rec, err := conformance.Run(ctx, client, url, c)
		cancel()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, c.Name+".json"), rec.Marshal(), 0o644); err != nil {
			return err
		}
		n++
	}
	fmt.Printf("recorded %d cases from %s into %s\n", n, url, out)
	return nil
}
