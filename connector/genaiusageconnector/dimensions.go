package genaiusageconnector // import "github.com/genaimeter/genaimeter/connector/genaiusageconnector"

import (
	"encoding/binary"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// Built-in dimension names, as they appear on the data points. They are short
// (not genaimeter.*) because they become Prometheus labels users type.
const (
	dimTenant        = "tenant_id"
	dimProvider      = "provider"
	dimModel         = "model"
	dimOperation     = "operation"
	dimFeature       = "feature"
	dimBillable      = "billable"
	dimPricingStatus = "pricing_status"
	dimPlan          = "plan"
)

// overflowKey marks an overflow series, as the OTel SDK does.
const overflowKey = "otel.metric.overflow"

var builtinDimensionNames = []string{dimTenant, dimProvider, dimModel, dimOperation, dimFeature, dimBillable, dimPricingStatus, dimPlan}

// dimension reads one dimension's value from a metered span and its resource.
type dimension struct {
	name string
	get  func(span, res pcommon.Map) (string, bool)
}

func spanAttr(key string) func(span, _ pcommon.Map) (string, bool) {
	return func(span, _ pcommon.Map) (string, bool) { return str(span, key) }
}

func str(m pcommon.Map, key string) (string, bool) {
	v, ok := m.Get(key)
	if !ok {
		return "", false
	}
	return v.AsString(), true
}

// builtinDimension returns the extractor of a built-in dimension.
func builtinDimension(name string) dimension {
	switch name {
	case dimModel:
		// The catalog's model id groups dated snapshots under one name; a call
		// that was not priced has none, so the model the span reports stands in.
		return dimension{name, func(span, _ pcommon.Map) (string, bool) {
			for _, k := range [...]string{usage.AttrCatalogModel, usage.AttrResponseModel, usage.AttrRequestModel} {
				if v, ok := str(span, k); ok && v != "" {
					return v, true
				}
			}
			return "", false
		}}
	case dimTenant:
		return dimension{name, spanAttr(usage.AttrTenantID)}
	case dimProvider:
		return dimension{name, spanAttr(usage.AttrProvider)}
	case dimOperation:
		return dimension{name, spanAttr(usage.AttrOperation)}
	case dimFeature:
		return dimension{name, spanAttr(usage.AttrFeature)}
	case dimBillable:
		return dimension{name, spanAttr(usage.AttrBillable)}
	case dimPricingStatus:
		return dimension{name, spanAttr(usage.AttrPricingStatus)}
	case dimPlan:
		return dimension{name, spanAttr(usage.AttrPlan)}
	}
	panic("unknown built-in dimension " + name) // Validate rules it out
}

// configuredDimensions are the built-in dimensions minus the excluded ones,
// then the extra ones (span attribute, else resource attribute, else default).
func configuredDimensions(cfg *MetricsConfig) []dimension {
	excluded := map[string]bool{}
	for _, n := range cfg.ExcludeDimensions {
		excluded[n] = true
	}
	var dims []dimension
	for _, n := range builtinDimensionNames {
		if !excluded[n] {
			dims = append(dims, builtinDimension(n))
		}
	}
	for _, d := range cfg.Dimensions {
		name, def := d.Name, d.Default
		dims = append(dims, dimension{name, func(span, res pcommon.Map) (string, bool) {
			if v, ok := str(span, name); ok {
				return v, true
			}
			if v, ok := str(res, name); ok {
				return v, true
			}
			if def != nil {
				return *def, true
			}
			return "", false
		}})
	}
	return dims
}

// appendKey appends one dimension value to a series key: a presence byte, then
// the length-prefixed value, so that no two value lists share a key.
func appendKey(key []byte, v string, ok bool) []byte {
	if !ok {
		return append(key, 0)
	}
	key = append(key, 1)
	key = binary.AppendUvarint(key, uint64(len(v)))
	return append(key, v...)
}
