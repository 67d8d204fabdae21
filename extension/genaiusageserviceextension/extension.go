package genaiusageserviceextension

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/extension/genaiusageserviceextension/internal/metadata"
	"github.com/genaimeter/genaimeter/internal/alerts"
	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/deadletter"
	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/usageservice"
	"github.com/genaimeter/genaimeter/internal/webui"
)

// service is the running extension.
type service struct {
	cfg *Config
	set extension.Settings

	plans  *entitlement.Source
	closer func()
	srv    *usageservice.Server
	wg     sync.WaitGroup

	ledger     *balances.Ledger
	stopAlerts context.CancelFunc
	deadFile   *deadletter.File
	telemetry  *metadata.TelemetryBuilder
}

var _ balances.Provider = (*service)(nil)

func newService(cfg *Config, set extension.Settings) *service {
	return &service{cfg: cfg, set: set}
}

// BalancesPlans gives the genai_ledger exporter the plans (valid after Start;
// extensions start before the pipelines).
func (s *service) BalancesPlans() *entitlement.Source { return s.plans }

// AlertLedger is the ledger whose alerts the genai_alerts receiver emits as
// log records (after Start).
func (s *service) AlertLedger() *balances.Ledger { return s.ledger }

// Addr is the address the API listens on (after Start).
func (s *service) Addr() net.Addr { return s.srv.Addr() }

func (s *service) Start(ctx context.Context, host component.Host) error {
	plans, err := entitlement.OpenSource(s.cfg.Plans, s.cfg.ReloadInterval, func(err error) {
		s.set.Logger.Error("plans file not reloaded: keeping the last good plans", zap.Error(err))
	})
	if err != nil {
		return fmt.Errorf("genai_usage_service: plans: %w", err)
	}
	s.plans = plans
	l, closer, err := balances.Open(ctx, balances.Target{SQLitePath: s.cfg.SQLite.Path, PostgresURL: s.cfg.Postgres.Endpoint}, plans)
	if err != nil {
		return fmt.Errorf("genai_usage_service: ledger: %w", err)
	}
	s.closer = closer
	s.ledger = l
	ui := s.cfg.UI
	api := usageservice.New(l, usageservice.Options{RatePerSecond: s.cfg.RateLimit.PerSecond, Burst: s.cfg.RateLimit.Burst,
		UI: webui.Options{Title: ui.Title, LogoURL: ui.LogoURL, TraceURL: ui.TraceURL, LinkSecret: []byte(ui.LinkSecret),
			LinkTTL: ui.LinkTTL, FrameAncestors: ui.FrameAncestors}})
	if s.srv, err = usageservice.Listen(ctx, &s.cfg.HTTP, host.GetExtensions(), s.set.TelemetrySettings, api); err != nil {
		return fmt.Errorf("genai_usage_service: %w", err)
	}
	if err := s.startAlerts(l); err != nil {
		return err
	}
	s.set.Logger.Info("usage service listening", zap.String("url", s.srv.URL()))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(); err != nil {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	return nil
}

func (s *service) Shutdown(ctx context.Context) error {
	if s.stopAlerts != nil {
		s.stopAlerts()
	}
	var err error
	if s.srv != nil {
		err = s.srv.Shutdown(ctx)
		s.wg.Wait()
	}
	if s.plans != nil {
		s.plans.Stop()
	}
	_ = s.deadFile.Close()
	if s.telemetry != nil {
		s.telemetry.Shutdown()
	}
	if s.closer != nil {
		s.closer()
		s.closer = nil
	}
	return err
}

// startAlerts runs the alert webhook sender, when one is configured: each
// post's fate is counted and logged.
func (s *service) startAlerts(l *balances.Ledger) error {
	w := s.cfg.Alerts.Webhook
	if w.Endpoint == "" {
		return nil
	}
	tb, err := metadata.NewTelemetryBuilder(s.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("genai_usage_service: telemetry: %w", err)
	}
	s.telemetry = tb
	if s.cfg.Alerts.DeadLetter != "" {
		if s.deadFile, err = deadletter.Open(s.cfg.Alerts.DeadLetter); err != nil {
			return fmt.Errorf("genai_usage_service: alerts: %w", err)
		}
	}
	sender := alerts.NewSender(alerts.Webhook{Endpoint: w.Endpoint, Secret: string(w.Secret), MaxAttempts: w.MaxAttempts,
		InitialBackoff: w.InitialBackoff, MaxBackoff: w.MaxBackoff, Lease: w.Timeout + 30*time.Second, Timeout: w.Timeout}, l, nil, s.deadFile)
	sender.Observe = func(a balances.Alert, fate, reason string) {
		tb.GenaiUsageServiceAlertPosts.Add(context.Background(), 1, metric.WithAttributes(
			attribute.String("kind", a.Kind), attribute.String("fate", fate)))
		log := s.set.Logger.Info
		if fate != alerts.Delivered {
			log = s.set.Logger.Warn
		}
		log("alert webhook post", zap.String("alert", a.ID), zap.String("tenant", a.Tenant), zap.String("fate", fate), zap.String("reason", reason))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopAlerts = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sender.Run(ctx, s.cfg.Alerts.Interval, func(err error) {
			s.set.Logger.Error("alert delivery", zap.Error(err))
		})
	}()
	return nil
}
