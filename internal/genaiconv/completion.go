package genaiconv

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Details of Call.CompletionDetail. They are constant texts: the record
// carries them to finance, and Extract must not allocate.
const (
	DetailStatusError      = "the span's status is ERROR"
	DetailEmptyFinish      = "the span carries an empty list of finish reasons: the response never finished"
	DetailStartUsageOnly   = "streamed Anthropic call with output 0 or 1: only the message_start usage arrived, so the stream was stopped and its counts are a lower bound"
	DetailNoFinish         = "this emitter writes a finish reason on every call that ends; this call has none, so it was stopped"
	DetailStopUnknowable   = "streamed call: this emitter writes the same signals for a stopped stream as for a complete one, so completion cannot be told"
	DetailNoStreamUsage    = "this emitter never reports usage on streamed calls: the missing usage does not mean the stream was stopped"
	DetailEstimatedUsage   = "streamed call: this emitter writes its own tokenizer estimate when the provider sends no stream usage, and the same signals for a stopped stream as for a complete one, so the counts may be estimates and completion cannot be told"
	DetailNoUsageNoStop    = "streamed call: this emitter never reports usage on streamed calls and writes finish reason \"stop\" for a stopped stream too, so neither usage nor completion can be told"
	DetailNoStreamUsageAny = "streamed call without usage: this emitter reports stream usage only when the provider sends it (OpenAI: stream_options.include_usage)"
)

// finishState says what a span tells about the finish reasons of its call.
type finishState uint8

const (
	finishAbsent  finishState = iota // no finish-reason attribute at all
	finishEmpty                      // an attribute with no reason in it
	finishPresent                    // at least one reason
)

// judgeCompletion sets c.Completion, c.CompletionDetail and c.Streamed from
// the signals the span carries and the emitter's stream traits. The order
// matters: an error wins, then the stopped signals (they are written next to
// a finish reason by emitters that default it), then a finish reason.
func judgeCompletion(span ptrace.Span, s *scan, c *Call, r resolution) {
	traits := r.stream
	finish := s.finishReasons()
	chat := c.Operation != "embeddings"
	// Where the span does not say it, an emitter's traits can: one that writes
	// no finish reason on streams only, or one that reports usage on every
	// call but a streamed one (a chat call's response always has usage).
	c.Streamed = chat && (s.streamed(span.Name()) ||
		(traits&NoFinishOnStreams != 0 && finish == finishAbsent) ||
		(traits&NoStreamUsage != 0 && !c.Usage.Reported))

	switch {
	case span.Status().Code() == ptrace.StatusCodeError:
		c.Completion, c.CompletionDetail = CompletionError, DetailStatusError
	case !chat:
		// Embeddings have no finish reason and are never streamed.
		c.Completion = CompletionComplete
		if !c.Usage.Reported {
			c.Completion = CompletionUnknown
		}
	case finish == finishEmpty:
		c.Completion, c.CompletionDetail = CompletionStopped, DetailEmptyFinish
	case c.Streamed && traits&StartUsage != 0 && c.Usage.Reported && c.Usage.Output <= 1:
		c.Completion, c.CompletionDetail = CompletionStopped, DetailStartUsageOnly
	case finish == finishAbsent && traits&NoFinishIsStopped != 0:
		c.Completion, c.CompletionDetail = CompletionStopped, DetailNoFinish
	case c.Streamed && traits&StopLooksComplete != 0:
		c.Completion, c.CompletionDetail = CompletionUnknown, DetailStopUnknowable
		switch {
		case traits&EstimatesStreamUsage != 0:
			c.CompletionDetail = DetailEstimatedUsage
		case traits&NoStreamUsage != 0 && !c.Usage.Reported:
			c.CompletionDetail = DetailNoUsageNoStop
		}
	case finish == finishPresent:
		c.Completion = CompletionComplete
	case c.Streamed && traits&StartUsage != 0 && c.Usage.Reported:
		// The message_delta count arrived: the stream ran to its end.
		c.Completion = CompletionComplete
	case !c.Streamed && c.Usage.Reported && r.known:
		// A known emitter that reported usage on a call that was not streamed:
		// the response arrived whole.
		c.Completion = CompletionComplete
	default:
		c.Completion = CompletionUnknown
	}
	if !c.Streamed || c.CompletionDetail != "" {
		return
	}
	switch {
	case traits&EstimatesStreamUsage != 0:
		c.CompletionDetail = DetailEstimatedUsage
	case !c.Usage.Reported && traits&NoStreamUsage != 0:
		c.CompletionDetail = DetailNoStreamUsage
	case !c.Usage.Reported:
		c.CompletionDetail = DetailNoStreamUsageAny
	}
}

// finishReasons reads the finish reasons of the dialects that write them:
// gen_ai.response.finish_reasons (semconv, a list; a string in the wild),
// llm.finish_reason (OpenInference JS) and ai.response.finishReason (Vercel),
// as the scan captured them.
func (s *scan) finishReasons() finishState {
	state := finishAbsent
	if v, ok := s.value(mFinishReasons - mFinishReasons); ok {
		state = finishEmpty
		switch v.Type() {
		case pcommon.ValueTypeSlice:
			s := v.Slice()
			for i := 0; i < s.Len(); i++ {
				if s.At(i).Type() == pcommon.ValueTypeStr && s.At(i).Str() != "" {
					return finishPresent
				}
			}
		case pcommon.ValueTypeStr:
			if v.Str() != "" && v.Str() != "[]" {
				return finishPresent
			}
		}
	}
	if s.seen&(1<<(mLLMFinish-mFinishReasons)|1<<(mAIFinish-mFinishReasons)) == 0 {
		return state
	}
	for _, f := range [...]field{mLLMFinish, mAIFinish} {
		if v, ok := s.value(f - mFinishReasons); ok {
			if v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
				return finishPresent
			}
			state = finishEmpty
		}
	}
	return state
}

// streamed reads whether the span says its call was streamed:
// gen_ai.request.stream (@anthropic-ai/sdk's own tracing),
// gen_ai.request.is_stream (OpenLIT), a Vercel doStream span, or the
// request parameters OpenInference and Langfuse record.
func (s *scan) streamed(name string) bool {
	if s.flag(mStream) || s.flag(mIsStream) {
		return true
	}
	if strings.HasSuffix(name, ".doStream") {
		return true
	}
	if v, ok := s.value(capAIOp); ok && v.Type() == pcommon.ValueTypeStr && strings.HasSuffix(v.Str(), ".doStream") {
		return true
	}
	return s.streamParam(mOIParams) || s.streamParam(mLFParams)
}

// flag says whether a captured signal is the boolean true.
func (s *scan) flag(f field) bool {
	v, ok := s.value(f - mFinishReasons)
	return ok && v.Type() == pcommon.ValueTypeBool && v.Bool()
}

// streamParam says whether captured request parameters (JSON) ask for a
// stream.
func (s *scan) streamParam(f field) bool {
	v, ok := s.value(f - mFinishReasons)
	return ok && v.Type() == pcommon.ValueTypeStr && strings.Contains(v.Str(), `"stream":true`)
}
