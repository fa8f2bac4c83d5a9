// Command mlflow-test-server serves the in-memory MLflow tracking server of
// package mlflowtest, for manual runs of the collector and for tests of
// other processes. It prints the tracking URI on the first line of stdout,
// then serves until SIGINT or SIGTERM.
//
//	mlflow-test-server -addr 127.0.0.1:5000 [-bearer-token-env VAR] [-basic-user U -basic-password-env VAR]
//
// Secrets are read from environment variables named by the flags, so they
// do not appear in the process list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mlflow-test-server:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mlflow-test-server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:5000", "listen address (port 0 picks a free port)")
	tokenEnv := fs.String("bearer-token-env", "", "name of the environment variable holding the required bearer token")
	basicUser := fs.String("basic-user", "", "require HTTP Basic auth with this user name")
	basicPassEnv := fs.String("basic-password-env", "", "name of the environment variable holding the Basic auth password")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var opts []mlflowtest.Option
	if *tokenEnv != "" {
		tok := os.Getenv(*tokenEnv)
		if tok == "" {
			return fmt.Errorf("environment variable %s (bearer token) is empty", *tokenEnv)
		}
		opts = append(opts, mlflowtest.WithBearerToken(tok))
	}
	if *basicUser != "" {
		if *basicPassEnv == "" {
			return errors.New("-basic-user needs -basic-password-env")
		}
		opts = append(opts, mlflowtest.WithBasicAuth(*basicUser, os.Getenv(*basicPassEnv)))
	}

	srv := mlflowtest.NewServer(opts...)
	defer srv.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("http://%s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Hung (fault-injected) requests are released by srv.Close first, so
	// Shutdown does not wait on them.
	srv.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
