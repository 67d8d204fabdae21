package usageservice

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
)

// DefaultEndpoint is where the API listens unless configured otherwise:
// loopback, because the API holds customer balances.
const DefaultEndpoint = "127.0.0.1:8790"

// DefaultHTTP is the API server's default settings, the same for the
// genai_usage_service extension and `genaimeter serve`: confighttp's
// defaults (timeouts, keep-alive) on DefaultEndpoint.
func DefaultHTTP() confighttp.ServerConfig {
	cfg := confighttp.NewDefaultServerConfig()
	cfg.NetAddr.Endpoint = DefaultEndpoint
	return cfg
}

// Server is the API's HTTP server, built from confighttp server settings.
// The genai_usage_service extension and `genaimeter serve` both listen
// through it, so TLS (configtls: certificates, reload, minimum version,
// client CAs), timeouts, CORS and the other confighttp settings act the same
// in both: one code path.
type Server struct {
	ln    net.Listener
	srv   *http.Server
	https bool
}

// Listen opens the listener and builds the server for handler (extensions:
// the host's, for auth extensions; nil outside a collector).
func Listen(ctx context.Context, cfg *confighttp.ServerConfig, extensions map[component.ID]component.Component,
	set component.TelemetrySettings, handler http.Handler,
) (*Server, error) {
	ln, err := cfg.ToListener(ctx)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.NetAddr.Endpoint, err)
	}
	srv, err := cfg.ToServer(ctx, extensions, set, handler)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	return &Server{ln: ln, srv: srv, https: cfg.TLS.HasValue()}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the server's base URL, https when TLS is configured.
func (s *Server) URL() string {
	if s.https {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

// Serve serves until Shutdown (then it returns nil) or a listener error.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting and waits for the requests in flight (up to ctx).
// It also closes the listener of a server that never served (a start that
// failed after Listen).
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	_ = s.ln.Close() // already closed by Shutdown when it served
	return err
}
