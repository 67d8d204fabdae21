package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"context"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadata"
)

var (
	defaultTenantKeys  = []string{"tenant.id", "tenant_id"}
	defaultUserKeys    = []string{"user.id", "enduser.id", "user_id", "userId"}
	defaultSessionKeys = []string{"session.id", "session_id", "sessionId", "gen_ai.conversation.id"}
	defaultFeatureKeys = []string{"feature", "app.feature"}
)

const (
	defaultAncestorWait       = 10 * time.Second
	defaultMaxPendingSpans    = 10_000
	defaultMaxRememberedSpans = 100_000
)

// NewFactory returns the factory of the genai_cost processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(metadata.Type, createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		Attribution: AttributionConfig{
			Tenant:  append([]string(nil), defaultTenantKeys...),
			User:    append([]string(nil), defaultUserKeys...),
			Session: append([]string(nil), defaultSessionKeys...),
			Feature: append([]string(nil), defaultFeatureKeys...),
			Ancestors: AncestorsConfig{
				Wait:               defaultAncestorWait,
				MaxPendingSpans:    defaultMaxPendingSpans,
				MaxRememberedSpans: defaultMaxRememberedSpans,
			},
		},
		Billing: BillingConfig{
			Rules:     defaultBillingRules(),
			ErrorMode: ottl.IgnoreError,
			Plans:     PlansConfig{ReloadInterval: defaultPlansReloadInterval},
		},
		Limits: LimitsConfig{MaxTokenCount: defaultMaxTokenCount},
	}
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	p, err := newCostProcessor(set, cfg.(*Config), next)
	if err != nil {
		return nil, err
	}
	return newTracesProcessor(ctx, set, cfg, p)
}

func newTracesProcessor(ctx context.Context, set processor.Settings, cfg component.Config, p *costProcessor) (processor.Traces, error) {
	return processorhelper.NewTraces(ctx, set, cfg, p.held.Acknowledging(p.next), p.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown))
}
