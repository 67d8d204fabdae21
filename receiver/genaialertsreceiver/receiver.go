package genaialertsreceiver

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/internal/balances"
)

// alertLedger is what the receiver needs of the extension's ledger.
type alertLedger interface {
	ClaimAlertLogs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]balances.Alert, error)
	AlertsLogged(ctx context.Context, ids []string, at time.Time) error
}

// alertSource is implemented by the genai_usage_service extension.
type alertSource interface {
	AlertLedger() *balances.Ledger
}

// lease keeps other receivers (collectors sharing the ledger) off the
// alerts being emitted.
const lease = 30 * time.Second

type alertsReceiver struct {
	cfg  *Config
	set  receiver.Settings
	next consumer.Logs

	ledger alertLedger
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (r *alertsReceiver) Start(_ context.Context, host component.Host) error {
	ext, ok := host.GetExtensions()[r.cfg.Service]
	if !ok {
		return fmt.Errorf("service: extension %q is not configured (add it to service.extensions)", r.cfg.Service)
	}
	src, ok := ext.(alertSource)
	if !ok || src.AlertLedger() == nil {
		return fmt.Errorf("service: extension %q is not a genai_usage_service extension", r.cfg.Service)
	}
	r.ledger = src.AlertLedger()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(r.cfg.Interval)
		defer t.Stop()
		for {
			if err := r.emit(ctx); err != nil && ctx.Err() == nil {
				r.set.Logger.Warn("alerts not emitted (retried after the lease)", zap.Error(err))
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

func (r *alertsReceiver) Shutdown(context.Context) error {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	return nil
}

// emit claims the alerts not emitted yet and sends them down the pipeline.
func (r *alertsReceiver) emit(ctx context.Context) error {
	for {
		as, err := r.ledger.ClaimAlertLogs(ctx, time.Now(), lease, 100)
		if err != nil || len(as) == 0 {
			return err
		}
		ld, err := logsOf(as)
		if err != nil {
			return err
		}
		if err := r.next.ConsumeLogs(ctx, ld); err != nil {
			return err
		}
		ids := make([]string, len(as))
		for i, a := range as {
			ids[i] = a.ID
		}
		if err := r.ledger.AlertsLogged(ctx, ids, time.Now()); err != nil {
			return err
		}
	}
}

// logsOf renders alerts as log records: the body says what fired, the
// attributes carry the numbers (genaimeter.alert.*), the time is when it
// fired.
func logsOf(as []balances.Alert) (plog.Logs, error) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "genaimeter")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/genaimeter/genaimeter/receiver/genaialertsreceiver")
	for _, a := range as {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(a.FiredAt))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		lr.SetSeverityText("WARN")
		lr.SetEventName("genaimeter.alert." + a.Kind)
		lr.Body().SetStr(summary(a))
		attrs := lr.Attributes()
		attrs.PutStr("genaimeter.alert.id", a.ID)
		attrs.PutStr("genaimeter.alert.kind", a.Kind)
		attrs.PutStr("genaimeter.alert.subject", a.Subject)
		attrs.PutStr("tenant.id", a.Tenant)
		attrs.PutStr("genaimeter.alert.window_start", a.WindowStart.Format(time.RFC3339))
		if !a.WindowEnd.IsZero() {
			attrs.PutStr("genaimeter.alert.window_end", a.WindowEnd.Format(time.RFC3339))
		}
		d, err := json.Marshal(a.Detail)
		if err != nil {
			return ld, err
		}
		var m map[string]any
		if err := json.Unmarshal(d, &m); err != nil {
			return ld, err
		}
		if err := attrs.PutEmptyMap("genaimeter.alert.detail").FromRaw(m); err != nil {
			return ld, err
		}
	}
	return ld, nil
}

func summary(a balances.Alert) string {
	d := a.Detail
	switch a.Kind {
	case balances.AlertThreshold:
		return fmt.Sprintf("tenant %s reached %s%% of %s (%s of %s %s)", a.Tenant, d.ThresholdPercent, a.Subject, d.Used, d.Amount, d.Meter)
	case balances.AlertSpike:
		return fmt.Sprintf("tenant %s %s spent %s USD in a window, above %s × its baseline (%s USD over %d windows) and the %s USD floor",
			a.Tenant, a.Subject, d.SpendUSD, d.K, d.BaselineUSD, d.BaselineWindows, d.FloorUSD)
	case balances.AlertViolation:
		return fmt.Sprintf("tenant %s violated its plan %s: %s (%s)", a.Tenant, d.Plan, d.Reason, a.Subject)
	}
	return a.Kind + " alert for tenant " + a.Tenant
}
