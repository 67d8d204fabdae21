package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// exportMethod is OTLP/gRPC's trace export.
const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// rawCodec sends a request that is already protobuf bytes and hands back the
// response's bytes: the load generator marshals nothing per request.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// A refused request is retried after minBackoff, doubling up to maxBackoff
// while refusals go on: a full pipeline pushes back and the streams slow down
// (as the OTLP exporter's retry does, in shorter steps) instead of spending
// the collector's CPU on requests it can only refuse.
const (
	minBackoff = 10 * time.Millisecond
	maxBackoff = 320 * time.Millisecond
)

// loadgen sends the templates round robin over `streams` gRPC connections,
// each a loop of synchronous Export calls (as the SDK's and the collector's
// OTLP exporters do), until stopped. A refused request is counted and retried
// after a backoff.
type loadgen struct {
	templates []*template
	streams   int
	// perSecond, if > 0, caps requests per second over all streams (soak).
	perSecond float64
	// maxRequests, if > 0, stops after that many accepted requests (soak).
	maxRequests int64
	// mayAdvance, if set, is asked before every request; while it says no the
	// stream waits (the full pipeline: see measure).
	mayAdvance func() bool

	seq      atomic.Uint64
	next     atomic.Uint64
	spans    atomic.Int64 // accepted
	calls    atomic.Int64 // accepted
	requests atomic.Int64 // accepted
	refused  atomic.Int64
	lastErr  atomic.Value

	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
}

func (g *loadgen) start(endpoint string) error {
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	g.done = make(chan struct{})
	var tick <-chan time.Time
	if g.perSecond > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / g.perSecond))
		go func() { <-ctx.Done(); t.Stop() }()
		tick = t.C
	}
	conns := make([]*grpc.ClientConn, 0, g.streams)
	for range g.streams {
		c, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}), grpc.MaxCallSendMsgSize(64<<20)))
		if err != nil {
			cancel()
			return err
		}
		conns = append(conns, c)
	}
	maxBody := 0
	for _, t := range g.templates {
		maxBody = max(maxBody, len(t.body))
	}
	for _, conn := range conns {
		g.wg.Go(func() {
			defer conn.Close()
			buf := make([]byte, maxBody)
			var resp []byte
			backoff := minBackoff
			for ctx.Err() == nil {
				if tick != nil {
					select {
					case <-tick:
					case <-ctx.Done():
						return
					}
				}
				for g.mayAdvance != nil && !g.mayAdvance() && ctx.Err() == nil {
					time.Sleep(2 * time.Millisecond)
				}
				t := g.templates[(g.next.Add(1)-1)%uint64(len(g.templates))]
				body := buf[:len(t.body)]
				copy(body, t.body)
				t.patch(body, g.seq.Add(1))
				err := conn.Invoke(ctx, exportMethod, &body, &resp)
				if err == nil {
					err = partialSuccess(resp)
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					g.refused.Add(1)
					g.lastErr.Store(err.Error())
					select {
					case <-time.After(backoff):
					case <-ctx.Done():
					}
					backoff = min(2*backoff, maxBackoff)
					continue
				}
				backoff = minBackoff
				g.spans.Add(int64(t.spans))
				g.calls.Add(int64(t.calls))
				if n := g.requests.Add(1); g.maxRequests > 0 && n >= g.maxRequests {
					g.cancel()
				}
			}
		})
	}
	go func() { g.wg.Wait(); close(g.done) }()
	return nil
}

// partialSuccess is an error when the collector accepted the request but
// rejected some of its spans.
func partialSuccess(resp []byte) error {
	if len(resp) == 0 {
		return nil
	}
	r := ptraceotlp.NewExportResponse()
	if err := r.UnmarshalProto(resp); err != nil {
		return err
	}
	if n := r.PartialSuccess().RejectedSpans(); n > 0 {
		return errors.New("partial success: rejected " + fmt.Sprint(n) + " spans: " + r.PartialSuccess().ErrorMessage())
	}
	return nil
}

func (g *loadgen) stop() {
	g.cancel()
	<-g.done
}

func (g *loadgen) lastError() string {
	s, _ := g.lastErr.Load().(string)
	return s
}
