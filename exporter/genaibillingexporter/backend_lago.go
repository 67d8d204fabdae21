package genaibillingexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// lagoMaxBatch is the most events one Lago batch request carries.
const lagoMaxBatch = 100

// Lago: /api/v1/events/batch.

type lago struct {
	httpBackend
	url string
}

func (b *lago) maxBatch() int { return lagoMaxBatch }

type lagoEvent struct {
	TransactionID          string            `json:"transaction_id"`
	ExternalSubscriptionID string            `json:"external_subscription_id"`
	Code                   string            `json:"code"`
	Timestamp              string            `json:"timestamp"`
	Properties             map[string]string `json:"properties"`
}

func (b *lago) send(ctx context.Context, evs []*event) []outcome {
	body := struct {
		Events []lagoEvent `json:"events"`
	}{Events: make([]lagoEvent, len(evs))}
	for i, e := range evs {
		// Lago takes the timestamp as Unix seconds, fractional allowed.
		body.Events[i] = lagoEvent{TransactionID: e.key, ExternalSubscriptionID: e.customer, Code: e.meter,
			Timestamp: unixMillisText(e.time), Properties: dataWithValue(e)}
	}
	buf, _ := json.Marshal(&body)
	out, resp := b.exchange(ctx, len(evs), b.url, "application/json", buf, nil, true)
	if out != nil {
		return out
	}
	if resp.status < 300 {
		return all(len(evs), outcome{fate: fateDelivered, status: resp.status})
	}
	if resp.status != http.StatusUnprocessableEntity {
		return all(len(evs), permanent(resp))
	}
	// 422: Lago validated the batch and ingested none of it; error_details
	// is keyed by the index of each refused event.
	var r struct {
		ErrorDetails map[string]map[string][]string `json:"error_details"`
	}
	if json.Unmarshal(resp.body, &r) != nil || len(r.ErrorDetails) == 0 {
		return all(len(evs), permanent(resp))
	}
	out = all(len(evs), outcome{fate: fateResend, status: resp.status})
	for k, fields := range r.ErrorDetails {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= len(evs) {
			return all(len(evs), permanent(resp))
		}
		dup := len(fields) == 1 && len(fields["transaction_id"]) == 1 && fields["transaction_id"][0] == "value_already_exist"
		if dup {
			out[i] = outcome{fate: fateDuplicate, status: resp.status}
		} else {
			detail, _ := json.Marshal(fields)
			out[i] = outcome{fate: fatePermanent, status: resp.status, body: string(detail), err: fmt.Errorf("HTTP 422")}
		}
	}
	return out
}
