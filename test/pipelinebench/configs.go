package main

// The collector configurations the harness runs. {{…}} are filled in by
// startCollector. Every one exposes the collector's own metrics (the
// Prometheus pull reader) at the default telemetry level, so that all three
// pay the same self-telemetry.

const telemetryBlock = `
  telemetry:
    logs:
      level: warn
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {{TELEMETRY_PORT}}`

// floorConfig: the stock collector of the same release, otlp → nop. The
// fastest a traces pipeline can be on this machine.
const floorConfig = `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {{GRPC}}
exporters:
  nop:
service:` + telemetryBlock + `
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [nop]
`

// genaiCostBlock is genai_cost as config/local.yaml has it (embedded
// catalog, tenant and user from span attributes or their ancestors; held
// calls in memory, not in file_storage).
const genaiCostBlock = `
  genai_cost:
    attribution:
      tenant: [tenant.id, tenant_id]
      user: [user.id, enduser.id]`

// costConfig: genai_cost alone, ending in the nop exporter like the floor,
// so that the difference between the two is genai_cost.
const costConfig = `{{EXTENSIONS}}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {{GRPC}}
processors:` + genaiCostBlock + `
exporters:
  nop:
service:{{SERVICE_EXTENSIONS}}` + telemetryBlock + `
  pipelines:
    traces:
      receivers: [otlp]
      processors: [genai_cost]
      exporters: [nop]
`

// fullConfig: the default pipeline into SQLite, balances included:
// otlp → genai_cost → genai_usage → genai_ledger, with the ledger keeping
// each tenant's balances (genai_usage_service, plans in {{DIR}}/plans.yaml)
// in every batch's transaction, as config/local.yaml does. The sending
// queue is in memory (config/local.yaml puts it in file_storage).
const fullConfig = `
extensions:
  genai_usage_service:
    plans: {{DIR}}/plans.yaml
    sqlite:
      path: {{DB}}
    http:
      endpoint: {{HTTP}}{{EXTRA_EXTENSION_DEFS}}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {{GRPC}}
processors:` + genaiCostBlock + `
connectors:
  genai_usage:
exporters:
  genai_ledger:
    sqlite:
      path: {{DB}}
    balances: genai_usage_service
service:
  extensions: [genai_usage_service{{EXTRA_EXTENSIONS}}]` + telemetryBlock + `
  pipelines:
    traces:
      receivers: [otlp]
      processors: [genai_cost]
      exporters: [genai_usage]
    logs/usage:
      receivers: [genai_usage]
      exporters: [genai_ledger]
`

// benchPlans puts every tenant on one paid plan (the "pro" plan of
// config/entitlements/plans.yaml): a token allowance with overage and a spend
// cap, so that every call is booked against two allowances.
const benchPlans = `default_plan: pro
plans:
  pro:
    monthly_fee: "99"
    allowances:
      - name: tokens
        meter: tokens
        bucket: total
        amount: "5000000"
        limit: soft
        overage_price: "0.000002"
      - name: spend
        meter: cost_usd
        amount: "50"
        limit: hard
`

// soakExtensions adds the pprof extension (the soak collector's only
// addition to otelcol-genaimeter) for the goroutine count of the soak and
// the CPU profiles of -profile.
const soakExtensions = `
  pprof:
    endpoint: {{PPROF}}`
