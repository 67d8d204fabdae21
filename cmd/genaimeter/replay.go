package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func init() {
	register("replay", command{
		summary: "send OTLP/JSON trace files (one export request per line) to a collector's OTLP/HTTP endpoint",
		run:     runReplay,
	})
}

func runReplay(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", "http://127.0.0.1:4318", "OTLP/HTTP base URL of the collector")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout of each request")
	now := fs.Bool("now", false, "move each request's spans to end now (keeping their durations and order), so that they count in the current billing period")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("give one or more .otlp.jsonl files")}
	}
	url := strings.TrimRight(*endpoint, "/") + "/v1/traces"
	client := &http.Client{Timeout: *timeout}
	sent := 0
	for _, path := range fs.Args() {
		var shift func([]byte) ([]byte, error)
		if *now {
			shift = func(b []byte) ([]byte, error) { return shiftToNow(b, time.Now()) }
		}
		n, err := replayFile(client, url, path, shift)
		sent += n
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "sent %d export requests to %s\n", sent, url)
	return nil
}

// replayFile posts every non-empty line of an OTLP/JSON lines file as one
// ExportTraceServiceRequest and fails on the first request the collector refuses.
// shift, if set, rewrites each request before it is sent.
func replayFile(client *http.Client, url, path string, shift func([]byte) ([]byte, error)) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	n := 0
	for line := 1; sc.Scan(); line++ {
		body := bytes.TrimSpace(sc.Bytes())
		if len(body) == 0 {
			continue
		}
		if shift != nil {
			if body, err = shift(body); err != nil {
				return n, fmt.Errorf("%s:%d: %w", path, line, err)
			}
		}
		if err := postOTLP(client, url, body); err != nil {
			return n, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		n++
	}
	return n, sc.Err()
}

func postOTLP(client *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("collector answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
