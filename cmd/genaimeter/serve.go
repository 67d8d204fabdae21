package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/pdata/pcommon"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/usageservice"
	"github.com/genaimeter/genaimeter/internal/webui"
)

func init() {
	register("serve", command{
		summary: "serve the usage service's API over a ledger (check, balances, usage, grants)",
		run:     runServe,
	})
}

const serveUsage = `usage: genaimeter serve (--db PATH | --postgres URL) --plans FILE [--listen ADDR]
                        [--tls-cert FILE --tls-key FILE] [--rate N --burst N]
                        [--ui-title T] [--ui-logo URL] [--trace-url URL]

Serves the usage service's HTTP JSON API and its web pages under /ui (admin
console, customer page; --trace-url links a call to its trace: {trace_id} is
replaced; the customer links are signed with $GENAIMETER_LINK_SECRET, random
per process when unset).

It is the same code as the genai_usage_service extension's, beside a
ledger that collectors write, for
example one PostgreSQL ledger shared by several collectors. Their
genai_ledger exporters keep the balances (balances: genai_usage_service); the
plans file must be the same. Listens on 127.0.0.1:8790 by default; API keys
come from "genaimeter keys create". Stops on SIGINT or SIGTERM.`

// serveContext is done when serve should stop (tests replace it).
var serveContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func runServe(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db, pg := ledgerFlags(fs)
	plansPath := fs.String("plans", "", "plans file (required)")
	listen := fs.String("listen", usageservice.DefaultEndpoint, "address to listen on")
	certFile := fs.String("tls-cert", "", "TLS certificate file")
	keyFile := fs.String("tls-key", "", "TLS key file")
	rate := fs.Float64("rate", 50, "requests per second per key")
	burst := fs.Int("burst", 100, "burst per key")
	uiTitle := fs.String("ui-title", "", "title of the web pages")
	uiLogo := fs.String("ui-logo", "", "logo of the web pages (https URL)")
	traceURL := fs.String("trace-url", "", "trace URL template with {trace_id}")
	if err := fs.Parse(args); err != nil {
		return usageError{fmt.Errorf("%w\n%s", err, serveUsage)}
	}
	if *plansPath == "" || (*certFile == "") != (*keyFile == "") {
		return usageError{errors.New("--plans is required, and --tls-cert and --tls-key go together\n" + serveUsage)}
	}
	ctx, stop := serveContext()
	defer stop()
	plans, err := entitlement.OpenSource(*plansPath, 10*time.Second, func(err error) {
		fmt.Fprintf(stderr, "genaimeter serve: plans file not reloaded, keeping the last good plans: %v\n", err)
	})
	if err != nil {
		return err
	}
	defer plans.Stop()
	l, closeLedger, err := balances.Open(ctx, balances.Target{SQLitePath: *db, PostgresURL: *pg}, plans)
	if err != nil {
		return err
	}
	defer closeLedger()
	// The same server settings and code as the extension's (confighttp,
	// configtls), from the flags.
	httpCfg := usageservice.DefaultHTTP()
	httpCfg.NetAddr.Endpoint = *listen
	if *certFile != "" {
		httpCfg.TLS = configoptional.Some(configtls.ServerConfig{Config: configtls.Config{CertFile: *certFile, KeyFile: *keyFile}})
	}
	api := usageservice.New(l, usageservice.Options{RatePerSecond: *rate, Burst: *burst,
		UI: webui.Options{Title: *uiTitle, LogoURL: *uiLogo, TraceURL: *traceURL, LinkSecret: []byte(os.Getenv("GENAIMETER_LINK_SECRET"))}})
	srv, err := usageservice.Listen(ctx, &httpCfg, nil, cliTelemetry(stderr), api)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "usage service on %s\n", srv.URL())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// cliTelemetry is the component telemetry of a server run by the CLI:
// confighttp's warnings on stderr, no traces or metrics.
func cliTelemetry(stderr io.Writer) component.TelemetrySettings {
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(stderr), zapcore.WarnLevel)
	return component.TelemetrySettings{Logger: zap.New(core), TracerProvider: nooptrace.NewTracerProvider(),
		MeterProvider: noopmetric.NewMeterProvider(), Resource: pcommon.NewResource()}
}
