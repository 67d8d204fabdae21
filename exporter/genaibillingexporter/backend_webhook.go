package genaibillingexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/genaimeter/genaimeter/pkg/webhooksig"
)

// webhookMaxBatch is the most events one webhook request carries.
const webhookMaxBatch = 100

// Webhook: signed JSON batches for in-house billing.

type webhook struct {
	httpBackend
	url    string
	secret string
}

func (b *webhook) maxBatch() int { return webhookMaxBatch }

// webhookEvent is one event of a webhook batch ({"events": [...]}).
type webhookEvent struct {
	ID         string            `json:"id"` // idempotency key: dedupe on it
	EventName  string            `json:"event_name"`
	Customer   string            `json:"customer"`
	Tenant     string            `json:"tenant"`
	Timestamp  string            `json:"timestamp"` // RFC 3339
	Value      string            `json:"value"`     // exact decimal text
	Properties map[string]string `json:"properties,omitempty"`
	EventIDs   []string          `json:"event_ids"` // usage record event ids summed in this event
}

// webhookResponse is the optional answer body of a receiver: ids it already
// had and ids it refuses (with a reason). Missing ids are accepted.
type webhookResponse struct {
	Duplicate []string          `json:"duplicate,omitempty"`
	Rejected  map[string]string `json:"rejected,omitempty"`
}

func (b *webhook) send(ctx context.Context, evs []*event) []outcome {
	body := struct {
		Events []webhookEvent `json:"events"`
	}{Events: make([]webhookEvent, len(evs))}
	for i, e := range evs {
		body.Events[i] = webhookEvent{ID: e.key, EventName: e.meter, Customer: e.customer, Tenant: e.tenant,
			Timestamp: e.time.UTC().Format(time.RFC3339Nano), Value: e.valueText(), Properties: e.props, EventIDs: e.ids}
	}
	buf, _ := json.Marshal(&body)
	sig := webhooksig.Sign(b.secret, b.now(), buf)
	out, resp := b.exchange(ctx, len(evs), b.url, "application/json", buf, map[string]string{webhooksig.Header: sig}, false)
	if out != nil {
		return out
	}
	out = all(len(evs), outcome{fate: fateDelivered, status: resp.status})
	var r webhookResponse
	if len(resp.body) == 0 || json.Unmarshal(resp.body, &r) != nil {
		return out
	}
	pos := make(map[string]int, len(evs))
	for i, e := range evs {
		pos[e.key] = i
	}
	for _, k := range r.Duplicate {
		if i, ok := pos[k]; ok {
			out[i] = outcome{fate: fateDuplicate, status: resp.status}
		}
	}
	for k, reason := range r.Rejected {
		if i, ok := pos[k]; ok {
			out[i] = outcome{fate: fatePermanent, status: resp.status, body: reason, err: fmt.Errorf("rejected by receiver")}
		}
	}
	return out
}
