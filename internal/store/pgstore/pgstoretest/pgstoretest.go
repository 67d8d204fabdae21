// Package pgstoretest gives tests a fresh PostgreSQL database on the server
// named by GENAIMETER_TEST_POSTGRES_URL (.ci/run starts a throwaway cluster
// and sets it).
package pgstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable with the server's URL, e.g.
// postgres://postgres@127.0.0.1:55432/postgres.
const EnvURL = "GENAIMETER_TEST_POSTGRES_URL"

// ServerURL returns the test server's URL. When it is not set the test is
// skipped, except under CI=true, where a missing server is a failure: CI must
// never pass by skipping the PostgreSQL tests.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set but CI=true: .ci/run must start PostgreSQL for the tests", EnvURL)
		}
		tb.Skipf("%s is not set: skipping the PostgreSQL test (it fails instead under CI=true). "+
			"Start a server (see .ci/run) and set e.g. %s=postgres://postgres@127.0.0.1:55432/postgres", EnvURL, EnvURL)
	}
	return u
}

// NewDatabase creates an empty database for the test, dropped when the test
// ends, and returns its URL.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	server := ServerURL(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "genaimeter_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		tb.Fatalf("connect to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			tb.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		tb.Fatalf("%s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}
