package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports (the kernel's ABI, whatever HZ is).
const clockTicks = 100

// collectorProc is one collector process under test.
type collectorProc struct {
	cmd       *exec.Cmd
	dir       string
	grpc      string // OTLP/gRPC endpoint
	telemetry string // Prometheus URL of the collector's own metrics
	pprof     string // base URL of the pprof extension, if configured
	dbPath    string
	out       *tailBuffer
}

// tailBuffer keeps the last 64 KiB of the collector's output, for errors.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 64<<10 {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-32<<10:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startCollector writes config into a new directory under workDir, with
// {{GRPC}}, {{TELEMETRY_PORT}}, {{PPROF}}, {{HTTP}}, {{DB}} and {{DIR}}
// substituted, runs bin on it and waits until its OTLP/gRPC port and its
// telemetry endpoint answer.
func startCollector(bin, workDir, config string) (*collectorProc, error) {
	dir, err := os.MkdirTemp(workDir, "collector-")
	if err != nil {
		return nil, err
	}
	ports := make([]int, 4)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	c := &collectorProc{
		dir:       dir,
		grpc:      fmt.Sprintf("127.0.0.1:%d", ports[0]),
		telemetry: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[1]),
		pprof:     fmt.Sprintf("http://127.0.0.1:%d", ports[2]),
		dbPath:    filepath.Join(dir, "usage.db"),
		out:       &tailBuffer{},
	}
	r := strings.NewReplacer("{{GRPC}}", c.grpc, "{{TELEMETRY_PORT}}", strconv.Itoa(ports[1]),
		"{{PPROF}}", fmt.Sprintf("127.0.0.1:%d", ports[2]), "{{HTTP}}", fmt.Sprintf("127.0.0.1:%d", ports[3]),
		"{{DB}}", c.dbPath, "{{DIR}}", dir)
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(r.Replace(config)), 0o600); err != nil {
		return nil, err
	}
	c.cmd = exec.Command(bin, "--config="+cfg)
	c.cmd.Dir = dir
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if conn, err := net.DialTimeout("tcp", c.grpc, 200*time.Millisecond); err == nil {
			conn.Close()
			if _, err := c.metrics(); err == nil {
				return c, nil
			}
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("%s did not open its ports within 60s; output:\n%s", bin, c.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop kills the collector. Its figures are taken; what it still holds
// (the full pipeline's queue) is not waited for, nor needed.
func (c *collectorProc) stop() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
	_ = os.RemoveAll(c.dir)
}

// cpuTicks is the process's user + system CPU time in clock ticks.
func (c *collectorProc) cpuTicks() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime + stime (fields 14 and 15) of a /proc/PID/stat
// line. The command name (field 2) may contain spaces and parentheses: the
// fields are counted from its closing parenthesis.
func parseStatCPU(stat []byte) (int64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no ')'")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state): utime is field 14, f[11].
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the name", len(f))
	}
	u, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, err
	}
	s, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, err
	}
	return u + s, nil
}

// statusKiB reads a "Key:   N kB" line (VmHWM, VmRSS) of /proc/PID/status.
func (c *collectorProc) statusKiB(key string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return parseStatusKiB(b, key)
}

func parseStatusKiB(status []byte, key string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	}
	return 0, fmt.Errorf("/proc status: no %s", key)
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// metrics scrapes the collector's own Prometheus endpoint: the sum of every
// sample of each metric name (labels dropped).
func (c *collectorProc) metrics() (map[string]float64, error) {
	resp, err := httpClient.Get(c.telemetry)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", c.telemetry, resp.Status)
	}
	return parsePrometheus(resp.Body)
}

func parsePrometheus(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		rest := line[len(name):]
		if strings.HasPrefix(rest, "{") {
			i := strings.LastIndexByte(rest, '}')
			if i < 0 {
				continue
			}
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out, sc.Err()
}

// metric returns the first of names present (exporters add _total to
// counters, or not, depending on the version).
func metric(m map[string]float64, names ...string) (float64, bool) {
	for _, n := range names {
		if v, ok := m[n]; ok {
			return v, true
		}
	}
	return 0, false
}

// allocBytes is the collector's cumulative heap allocation (Go's
// TotalAlloc), from its process telemetry.
func allocBytes(m map[string]float64) (float64, bool) {
	return metric(m, "otelcol_process_runtime_total_alloc_bytes_total", "otelcol_process_runtime_total_alloc_bytes")
}

// cpuProfile writes the pprof extension's CPU profile of the next d to
// file.
func (c *collectorProc) cpuProfile(d time.Duration, file string) error {
	client := &http.Client{Timeout: d + 30*time.Second}
	resp, err := client.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", c.pprof, int(d.Round(time.Second)/time.Second)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("cpu profile: %s: %s", resp.Status, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// goroutines reads the total of the pprof extension's goroutine profile.
func (c *collectorProc) goroutines() (int, error) {
	resp, err := httpClient.Get(c.pprof + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		return 0, err
	}
	// "goroutine profile: total 123"
	_, n, ok := strings.Cut(strings.TrimSpace(line), "total ")
	if !ok {
		return 0, fmt.Errorf("goroutine profile: unexpected first line %q", line)
	}
	return strconv.Atoi(n)
}
