package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	usagerec "github.com/genaimeter/genaimeter/internal/usage"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestKeysAndServe: keys made by the CLI open the API that serve runs over a
// ledger; a revoked key stops working at once.
func TestKeysAndServe(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "usage.db")
	plans := filepath.Join(dir, "plans.yaml")
	require.NoError(t, os.WriteFile(plans, []byte("default_plan: p\nplans:\n  p:\n    credits_per_usd: '100'\n    allowances:\n      - {name: credits, meter: credits, amount: '10', limit: hard}\n"), 0o600))

	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"keys", "create", "--db", db, "--tenant", "acme", "--note", "app"}, nil, &out, &errb), errb.String())
	tok := strings.TrimSpace(out.String())
	require.Regexp(t, `^gmk_[0-9a-f]{16}_[0-9a-f]{64}$`, tok)
	keyID := strings.Split(tok, "_")[1]
	out.Reset()
	assert.Equal(t, 2, run([]string{"keys", "create", "--db", db}, nil, &out, &errb))
	assert.Equal(t, 2, run([]string{"keys", "create", "--db", db, "--tenant", "a", "--admin"}, nil, &out, &errb))

	// Calls the collector stored (as the exporter would, with balances on).
	st, err := sqlitestore.Open(db)
	require.NoError(t, err)
	require.NoError(t, st.Migrate(context.Background()))
	_, _, err = st.Insert(context.Background(), []usagerec.Record{{EventID: fmt.Sprintf("%048x", "e1"), TenantID: "acme", Time: time.Now(), PricingStatus: usagerec.StatusPriced,
		CostUSD: "0.01", RevenueUSD: "0.04", CatalogModel: "gpt-4o", CatalogProvider: "openai"}})
	require.NoError(t, err)
	require.NoError(t, st.Close())

	ctx, cancel := context.WithCancel(context.Background())
	serveContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	var sout syncBuffer
	done := make(chan int)
	go func() {
		done <- run([]string{"serve", "--db", db, "--plans", plans, "--listen", "127.0.0.1:0", "--ui-title", "Acme <usage>"}, nil, &sout, io.Discard)
	}()
	var url string
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(`usage service on (http://\S+)`).FindStringSubmatch(sout.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	}, 10*time.Second, 10*time.Millisecond)
	get := func() (int, string) {
		req, _ := http.NewRequest("GET", url+"/v1/tenants/acme/entitlements", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := get()
	assert.Equal(t, 200, code, body)
	// The record was stored before the balances were attached: the service
	// does not keep them (collectors do), so its balance starts empty and
	// the usage rollup is empty too — until a collector catches up.
	assert.Contains(t, body, `"plan":"p"`)
	// serve serves the web pages too, with its title (escaped).
	res, err := http.Get(url + "/ui/login")
	require.NoError(t, err)
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, 200, res.StatusCode)
	assert.Contains(t, string(page), "<h1>Acme &lt;usage&gt;</h1>")
	assert.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'none'")

	out.Reset()
	require.Equal(t, 0, run([]string{"keys", "list", "--db", db}, nil, &out, &errb))
	assert.Regexp(t, keyID+`\s+acme\s+\S+\s+active\s+app`, out.String())
	out.Reset()
	require.Equal(t, 0, run([]string{"keys", "revoke", "--db", db, keyID}, nil, &out, &errb))
	code, _ = get()
	assert.Equal(t, 401, code)
	assert.Equal(t, 1, run([]string{"keys", "revoke", "--db", db, "nope"}, nil, &out, &errb))

	cancel()
	assert.Equal(t, 0, <-done)
}

// TestServeOverTLS: serve listens through the same confighttp/configtls
// server code as the genai_usage_service extension. With --tls-cert and
// --tls-key it serves the API over TLS (a client trusting the certificate is
// answered; plain HTTP gets 400 from the TLS server), and a certificate that
// cannot be loaded fails the start naming the file.
func TestServeOverTLS(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "usage.db")
	plans := filepath.Join(dir, "plans.yaml")
	require.NoError(t, os.WriteFile(plans, []byte("default_plan: p\nplans:\n  p:\n    credits_per_usd: '100'\n    allowances:\n      - {name: credits, meter: credits, amount: '10', limit: hard}\n"), 0o600))
	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"keys", "create", "--db", db, "--tenant", "acme"}, nil, &out, &errb), errb.String())
	tok := strings.TrimSpace(out.String())
	certFile, keyFile, pool := selfSignedCert(t, dir)

	ctx, cancel := context.WithCancel(context.Background())
	serveContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	var sout syncBuffer
	done := make(chan int)
	go func() {
		done <- run([]string{"serve", "--db", db, "--plans", plans, "--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile},
			nil, &sout, io.Discard)
	}()
	var url string
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(`usage service on (https://\S+)`).FindStringSubmatch(sout.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	}, 10*time.Second, 10*time.Millisecond, sout.String())

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequest("GET", url+"/v1/tenants/acme/check", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := client.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, 200, res.StatusCode, string(body))
	assert.Contains(t, string(body), `"allowed":true`)
	require.NotNil(t, res.TLS, "answered over TLS")

	res, err = http.Get("http://" + strings.TrimPrefix(url, "https://") + "/v1/me")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusBadRequest, res.StatusCode, "plain HTTP to the TLS listener")

	cancel()
	assert.Equal(t, 0, <-done)

	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	serveContext = func() (context.Context, context.CancelFunc) { return ctx2, cancel2 }
	missing := filepath.Join(dir, "missing.crt")
	errb.Reset()
	assert.Equal(t, 1, run([]string{"serve", "--db", db, "--plans", plans, "--listen", "127.0.0.1:0", "--tls-cert", missing, "--tls-key", keyFile},
		nil, io.Discard, &errb))
	assert.Contains(t, errb.String(), missing)
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key into dir;
// it returns their paths and a pool trusting the certificate.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "genaimeter serve test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
