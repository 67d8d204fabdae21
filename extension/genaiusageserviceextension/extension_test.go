package genaiusageserviceextension

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/genaimeter/genaimeter/extension/genaiusageserviceextension/internal/metadata"
	"github.com/genaimeter/genaimeter/internal/balances"
)

// selfSigned writes a certificate for 127.0.0.1 and its key; it returns
// their paths and a pool trusting the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "usage service test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServesTheAPIOverTLS: the extension starts on a ledger with the plans
// file, serves the API over TLS (confighttp), and answers a tenant key.
func TestServesTheAPIOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Plans = filepath.Join("testdata", "plans.yaml")
	cfg.SQLite.Path = filepath.Join(dir, "usage.db")
	cfg.HTTP.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.HTTP.TLS = configoptional.Some(configtls.ServerConfig{Config: configtls.Config{CertFile: certFile, KeyFile: keyFile}})
	require.NoError(t, cfg.Validate())
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	svc := ext.(*service)
	require.NotNil(t, svc.BalancesPlans().Plans().Plans["pro"])

	// A key made by the CLI's code path, on the same ledger.
	l, closeLedger, err := balances.Open(context.Background(), balances.Target{SQLitePath: cfg.SQLite.Path}, svc.BalancesPlans())
	require.NoError(t, err)
	defer closeLedger()
	tok, _, err := l.CreateKey(context.Background(), "acme", "", "test")
	require.NoError(t, err)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequest("GET", "https://"+svc.Addr().String()+"/v1/tenants/acme/check", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := client.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, 200, res.StatusCode, string(body))
	assert.Contains(t, string(body), `"plan":"pro"`)
	assert.Contains(t, string(body), `"remaining":"20000"`, "acme's override of the credits allowance")

	// Plain HTTP to a TLS endpoint gets nothing.
	res, err = http.Get("http://" + svc.Addr().String() + "/v1/me")
	if err == nil {
		assert.Equal(t, 400, res.StatusCode)
		res.Body.Close()
	}
}

// TestStartFailsOnABadPlansFile names the file, line and column.
func TestStartFailsOnABadPlansFile(t *testing.T) {
	dir := t.TempDir()
	plans := filepath.Join(dir, "plans.yaml")
	require.NoError(t, os.WriteFile(plans, []byte("plans:\n  pro:\n    allowances:\n      - {name: c, meter: calls, amount: 1, overage: rate_card, overage_price: '1'}\n"), 0o600))
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Plans, cfg.SQLite.Path = plans, filepath.Join(dir, "usage.db")
	cfg.HTTP.NetAddr.Endpoint = "127.0.0.1:0"
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	err = ext.Start(context.Background(), componenttest.NewNopHost())
	require.EqualError(t, err, "genai_usage_service: plans: "+plans+
		":4:53: plans.pro.allowances[0]: overage and overage_price are exclusive: give one (rate-card revenue, or a price per unit)")
	require.NoError(t, ext.Shutdown(context.Background()))
}
