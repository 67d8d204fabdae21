package genailedgerexporter

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/component"

	"github.com/genaimeter/genaimeter/internal/store/usagejson"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// Kafka message headers of a usage record.
const (
	// headerEventID carries the record's event id, so that consumers
	// deduplicate (the producer is idempotent within a session, but a batch
	// retried after a collector restart is produced again) without parsing
	// the value.
	headerEventID = "genaimeter.event_id"
	// headerSchemaVersion is usagejson.SchemaVersion, as decimal text.
	headerSchemaVersion = "genaimeter.schema_version"
)

var schemaVersionHeader = []byte(strconv.Itoa(usagejson.SchemaVersion))

// kafkaSink produces one message per record: value = the record as JSON
// (internal/store/usagejson), key = the tenant id, so that the default
// (murmur2, Java-compatible) partitioner keeps each tenant's records on one
// partition and in order.
type kafkaSink struct {
	cfg    *KafkaConfig
	client *kgo.Client
}

func (s *kafkaSink) Start(ctx context.Context, _ component.Host) error {
	opts := []kgo.Opt{
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.ClientID(s.cfg.ClientID),
		kgo.DefaultProduceTopic(s.cfg.Topic),
		// Idempotent writes are franz-go's default and need acks from all
		// in-sync replicas: a retried produce request is not duplicated and
		// a partition's order is kept across retries.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(s.cfg.MaxMessageBytes),
		// The exporter's queue batches already; do not wait to fill more.
		kgo.ProducerLinger(0),
	}
	if s.cfg.TLS.HasValue() {
		tc, err := s.cfg.TLS.Get().LoadTLSConfig(ctx)
		if err != nil {
			return fmt.Errorf("kafka.tls: %w", err)
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	// The client connects lazily: an unreachable cluster shows up as
	// retryable write errors, and records wait in the sending queue.
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	s.client = cl
	return nil
}

func (s *kafkaSink) Write(ctx context.Context, recs []usage.Record) (writeResult, error) {
	msgs := make([]*kgo.Record, len(recs))
	// One buffer for all values: one allocation per batch instead of one per
	// record; each value is a sub-slice of it.
	buf := make([]byte, 0, len(recs)*1024)
	for i := range recs {
		r := &recs[i]
		start := len(buf)
		buf = usagejson.Append(buf, r)
		msgs[i] = &kgo.Record{
			Key:   []byte(r.TenantID),
			Value: buf[start:len(buf):len(buf)],
			Headers: []kgo.RecordHeader{
				{Key: headerEventID, Value: []byte(r.EventID)},
				{Key: headerSchemaVersion, Value: schemaVersionHeader},
			},
		}
	}
	results := s.client.ProduceSync(ctx, msgs...)
	// Results come in completion order, not in the order of msgs.
	index := make(map[*kgo.Record]int, len(msgs))
	for i, m := range msgs {
		index[m] = i
	}
	var res writeResult
	var retry error
	for _, pr := range results {
		i := index[pr.Record]
		switch {
		case pr.Err == nil:
			res.Written++
		case errors.Is(pr.Err, kerr.MessageTooLarge), errors.Is(pr.Err, kerr.RecordListTooLarge),
			errors.Is(pr.Err, kerr.InvalidRecord), errors.Is(pr.Err, kerr.CorruptMessage):
			// The broker (or the client's size check) refuses this record
			// itself: no retry can send it.
			res.Rejected = append(res.Rejected, rejectedRecord{Index: i, Err: fmt.Errorf("kafka: %w", pr.Err)})
		case retry == nil:
			retry = fmt.Errorf("kafka: produce to %s: %w", s.cfg.Topic, pr.Err)
		}
	}
	sort.Slice(res.Rejected, func(a, b int) bool { return res.Rejected[a].Index < res.Rejected[b].Index })
	if retry != nil {
		// Some records were produced and will be produced again by the
		// retry: consumers deduplicate on the event id header.
		return writeResult{}, retry
	}
	return res, nil
}

func (s *kafkaSink) Shutdown(context.Context) error {
	if s.client == nil {
		return nil
	}
	// Everything Write produced was acknowledged before it returned; Close
	// only releases connections.
	s.client.Close()
	s.client = nil
	return nil
}
