// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiusageconnector

import (
	"errors"
	"fmt"
	"time"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon"
)

// Config of the genai_usage connector; genai-o11y generates it from its spec.
type Config struct {
	// MaxStale: a stream not updated for this long is forgotten (its series then expires in the
	// exporter, and comes back from zero with a new start time if it is seen again).
	MaxStale time.Duration `mapstructure:"max_stale"`
	// MetricsFlushInterval: the streams updated since the last flush are sent on (their cumulative
	// values) once per interval, and once more at shutdown; not on every batch.
	MetricsFlushInterval time.Duration `mapstructure:"metrics_flush_interval"`
	// Metrics: what to count or observe, and on which spans.
	Metrics []Metric `mapstructure:"metrics"`
	// Join: how a log record (an OTel event, on no span) finds the span labels of the span it
	// belongs to: recently seen spans are remembered by span id and response id.
	Join Join `mapstructure:"join"`
	// CopyFromResource: resource attributes a span or log record lacking them takes, as if it carried
	// them (the labels every span of a service shares: service.name, its environment, its release):
	// read in place, nothing is copied onto the data. Span events are not filled (a span_event
	// metric's span labels read the span, which is).
	CopyFromResource []string `mapstructure:"copy_from_resource"`
	// RequireKey: spans without this attribute feed nothing (not even their events); log records are
	// not affected. (genai-o11y: the stage, which every GenAI span has after normalisation.)
	RequireKey string `mapstructure:"require_key"`
	// Fold: label folding of the values read (fold.go).
	Fold Fold `mapstructure:"fold"`
}

// Join: the span labels of the span_event metrics that a log record does not carry itself and
// that are not read from its resource (log_resource_labels) are taken from the span the record
// names: its span id (the record's parent), else the value of ResponseIDKey it carries (the
// span's attribute of that key). Only spans that passed this connector within TTL are found, and
// at most MaxEntries are remembered (the oldest forgotten first); MaxEntries 0 turns it off.
type Join struct {
	MaxEntries    int           `mapstructure:"max_entries"`
	TTL           time.Duration `mapstructure:"ttl"`
	ResponseIDKey string        `mapstructure:"response_id_key"`
	// Wait: a record naming a span not seen yet waits this long for it (SDKs export log records
	// sooner than spans), at most MaxWaiting records at once (further ones are observed at once);
	// then it is observed without the span's labels (a miss). 0: no wait.
	Wait       time.Duration `mapstructure:"wait"`
	MaxWaiting int           `mapstructure:"max_waiting"`
}

// Metric is one cumulative sum or explicit-bucket histogram fed by the spans where all of When hold.
type Metric struct {
	Name        string `mapstructure:"name"`
	Description string `mapstructure:"description"`
	Unit        string `mapstructure:"unit"`
	// When: every condition must hold for a span to feed the metric.
	When []When `mapstructure:"when"`
	// Labels: span attributes copied onto the data point. A label with a Default takes it where the
	// span lacks the attribute; a label without one must be on the span, else the span is skipped.
	Labels []Label `mapstructure:"labels"`
	// ResourceLabels: resource attributes kept on the metric's resource (the exporter's job label).
	ResourceLabels []string `mapstructure:"resource_labels"`
	// Value: the attribute summed or observed, read as Type; without Key every span counts 1.
	Value Value `mapstructure:"value"`
	// Exactly one of Sum and Histogram.
	Sum       *Sum       `mapstructure:"sum"`
	Histogram *Histogram `mapstructure:"histogram"`
	// MaxStreams: at most this many label sets are tracked (0: no limit); data points of further
	// label sets are dropped and counted (otelcol_genai_usage_datapoints_dropped{reason="limit"}),
	// or, with OnLimit "overflow", go to one stream per resource labelled only otel.metric.overflow=true
	// (OpenTelemetry's cardinality-limit rule, as the span_metrics connector does).
	MaxStreams int    `mapstructure:"max_streams"`
	OnLimit    string `mapstructure:"on_limit"`
	// SpanEvent: the metric is also fed by each span event of this name (besides the spans).
	SpanEvent *SpanEvent `mapstructure:"span_event"`
	// Exemplars: a histogram's data points carry an exemplar (trace and span id, value) of the last
	// observation of each stream in each flush interval, so a dashboard links a bucket to a real trace.
	Exemplars bool `mapstructure:"exemplars"`
}

// SpanEvent: on an event named Name, the labels in SpanLabels are read from the span that carries
// the event (the evaluated span's dimensions); the conditions, the value and the other labels are
// read from the event's attributes.
type SpanEvent struct {
	Name       string   `mapstructure:"name"`
	SpanLabels []string `mapstructure:"span_labels"`
	// LogResourceLabels: the same event as a log record (connector logs -> metrics) is on no span:
	// these span labels are read from the record's resource, the others take their default.
	LogResourceLabels []string `mapstructure:"log_resource_labels"`
}

// When holds where the attribute is set (Present), or equals Equals with the same type.
type When struct {
	Key     string `mapstructure:"key"`
	Present bool   `mapstructure:"present"`
	Equals  any    `mapstructure:"equals"`
}

// Label is a span attribute that becomes a data point attribute.
type Label struct {
	Key     string  `mapstructure:"key"`
	Default *string `mapstructure:"default"`
	// Optional: where the span lacks the attribute the data point has no such label (as the
	// span_metrics connector's dimensions without a default); not with Default.
	Optional bool `mapstructure:"optional"`
	// Source: "attribute" (the default: the span attribute Key), "resource" (the span's resource
	// attribute Key, as the span_metrics connector reads service.name) or "span.status.code": the
	// span's status code as the span_metrics connector writes it (STATUS_CODE_UNSET, _OK, _ERROR), under Key.
	Source string `mapstructure:"source"`
}

// Label and value sources besides a span attribute: the span's own fields.
const (
	SourceAttribute    = "attribute"
	SourceResource     = "resource"
	SourceStatusCode   = "span.status.code"
	SourceSpanDuration = "span.duration"
	OnLimitDrop        = "drop"
	OnLimitOverflow    = "overflow"
)

// durationUnits: the units a span.duration value can be observed in, as nanoseconds.
var durationUnits = map[string]float64{"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}

// Value is read from the span attribute Key as "int" or "double" (as OTTL's Int() and Double()
// convert: strings are parsed, doubles truncated to integers, booleans are 1 or 0); with Source
// "span.duration" it is the span's duration (end - start, 0 if negative) in the metric's unit
// (ns, us, ms or s), a double, as the span_metrics connector measures it.
type Value struct {
	Key    string `mapstructure:"key"`
	Type   string `mapstructure:"type"`
	Source string `mapstructure:"source"`
}

// Sum is a cumulative sum.
type Sum struct {
	Monotonic bool `mapstructure:"monotonic"`
}

// Histogram is a cumulative explicit-bucket histogram; a value equal to a bound falls in its bucket.
type Histogram struct {
	Buckets []float64 `mapstructure:"buckets"`
}

func createDefaultConfig() *Config {
	return &Config{MaxStale: 15 * time.Minute, MetricsFlushInterval: 15 * time.Second}
}

// Validate names the field of every problem.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, c.Fold.validate()...)
	seenCopy := map[string]bool{}
	for i, k := range c.CopyFromResource {
		switch {
		case k == "":
			errs = append(errs, fmt.Errorf("copy_from_resource[%d]: empty key", i))
		case seenCopy[k]:
			errs = append(errs, fmt.Errorf("copy_from_resource[%d]: %s listed twice", i, k))
		}
		seenCopy[k] = true
	}
	if c.MaxStale <= 0 {
		errs = append(errs, fmt.Errorf("max_stale: must be a positive duration (got %s)", c.MaxStale))
	}
	if c.MetricsFlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("metrics_flush_interval: must be a positive duration (got %s)", c.MetricsFlushInterval))
	} else if c.MaxStale > 0 && c.MetricsFlushInterval >= c.MaxStale {
		errs = append(errs, fmt.Errorf("metrics_flush_interval: %s must be shorter than max_stale (%s)", c.MetricsFlushInterval, c.MaxStale))
	}
	if len(c.Metrics) == 0 {
		errs = append(errs, errors.New("metrics: empty"))
	}
	if c.Join.MaxEntries < 0 {
		errs = append(errs, fmt.Errorf("join.max_entries: %d is negative", c.Join.MaxEntries))
	}
	if c.Join.Wait < 0 {
		errs = append(errs, fmt.Errorf("join.wait: %s is negative", c.Join.Wait))
	}
	if c.Join.Wait > 0 && c.Join.MaxWaiting <= 0 {
		errs = append(errs, fmt.Errorf("join.max_waiting: must be positive with wait (got %d)", c.Join.MaxWaiting))
	}
	if c.Join.MaxEntries > 0 && c.Join.TTL <= 0 {
		errs = append(errs, fmt.Errorf("join.ttl: must be a positive duration with max_entries (got %s)", c.Join.TTL))
	}
	names := map[string]int{}
	for i, m := range c.Metrics {
		at := fmt.Sprintf("metrics[%d] (%s)", i, m.Name)
		if m.Name == "" {
			errs = append(errs, fmt.Errorf("metrics[%d].name: empty", i))
		} else if j, dup := names[m.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: also metrics[%d]", at, j))
		}
		names[m.Name] = i
		if len(m.When) == 0 {
			errs = append(errs, fmt.Errorf("%s.when: empty (a metric must say which spans feed it)", at))
		}
		for j, w := range m.When {
			if err := w.check(); err != nil {
				errs = append(errs, fmt.Errorf("%s.when[%d]: %w", at, j, err))
			}
		}
		seen := map[string]bool{}
		intrinsic := false // a label or the value read from the span's own fields (not on span events nor log records)
		for j, l := range m.Labels {
			if l.Key == "" {
				errs = append(errs, fmt.Errorf("%s.labels[%d].key: empty", at, j))
			} else if seen[l.Key] {
				errs = append(errs, fmt.Errorf("%s.labels[%d].key: %s listed twice", at, j, l.Key))
			}
			seen[l.Key] = true
			switch l.Source {
			case "", SourceAttribute:
				if l.Optional && l.Default != nil {
					errs = append(errs, fmt.Errorf("%s.labels[%d] (%s): optional and default exclude each other", at, j, l.Key))
				}
			case SourceResource:
				intrinsic = true
				if l.Optional && l.Default != nil {
					errs = append(errs, fmt.Errorf("%s.labels[%d] (%s): optional and default exclude each other", at, j, l.Key))
				}
			case SourceStatusCode:
				intrinsic = true
				if l.Optional || l.Default != nil {
					errs = append(errs, fmt.Errorf("%s.labels[%d] (%s).source: %s is always set: no optional, no default", at, j, l.Key, l.Source))
				}
			default:
				errs = append(errs, fmt.Errorf("%s.labels[%d] (%s).source: %q must be %s, %s or %s", at, j, l.Key, l.Source, SourceAttribute, SourceResource, SourceStatusCode))
			}
		}
		for j, k := range m.ResourceLabels {
			if k == "" {
				errs = append(errs, fmt.Errorf("%s.resource_labels[%d]: empty", at, j))
			}
		}
		if m.Value.Type != "int" && m.Value.Type != "double" {
			errs = append(errs, fmt.Errorf("%s.value.type: %q must be int or double", at, m.Value.Type))
		}
		switch m.Value.Source {
		case "", SourceAttribute:
		case SourceSpanDuration:
			intrinsic = true
			if m.Value.Key != "" {
				errs = append(errs, fmt.Errorf("%s.value.key: %s reads no attribute (source %s)", at, m.Value.Key, m.Value.Source))
			}
			if m.Value.Type != "double" {
				errs = append(errs, fmt.Errorf("%s.value.type: %q: a span.duration is a double", at, m.Value.Type))
			}
			if _, ok := durationUnits[m.Unit]; !ok {
				errs = append(errs, fmt.Errorf("%s.unit: %q: a span.duration is measured in ns, us, ms or s", at, m.Unit))
			}
		default:
			errs = append(errs, fmt.Errorf("%s.value.source: %q must be %s or %s", at, m.Value.Source, SourceAttribute, SourceSpanDuration))
		}
		if intrinsic && m.SpanEvent != nil {
			errs = append(errs, fmt.Errorf("%s.span_event: a metric reading the span's resource, status or duration is fed by spans only", at))
		}
		switch {
		case (m.Sum == nil) == (m.Histogram == nil):
			errs = append(errs, fmt.Errorf("%s: exactly one of sum and histogram", at))
		case m.Exemplars && m.Histogram == nil:
			errs = append(errs, fmt.Errorf("%s.exemplars: only a histogram carries exemplars", at))
		case m.Histogram != nil:
			b := m.Histogram.Buckets
			if len(b) == 0 {
				errs = append(errs, fmt.Errorf("%s.histogram.buckets: empty", at))
			}
			for j := 1; j < len(b); j++ {
				if b[j] <= b[j-1] {
					errs = append(errs, fmt.Errorf("%s.histogram.buckets[%d]: %v not above %v", at, j, b[j], b[j-1]))
				}
			}
		}
		if e := m.SpanEvent; e != nil {
			if e.Name == "" {
				errs = append(errs, fmt.Errorf("%s.span_event.name: empty", at))
			}
			spanSeen := map[string]bool{}
			for j, k := range e.SpanLabels {
				switch {
				case !seen[k]:
					errs = append(errs, fmt.Errorf("%s.span_event.span_labels[%d]: %q is not one of the metric's labels", at, j, k))
				case spanSeen[k]:
					errs = append(errs, fmt.Errorf("%s.span_event.span_labels[%d]: %s listed twice", at, j, k))
				}
				spanSeen[k] = true
			}
			for j, k := range e.LogResourceLabels {
				if !spanSeen[k] {
					errs = append(errs, fmt.Errorf("%s.span_event.log_resource_labels[%d]: %q is not one of span_labels", at, j, k))
				}
			}
		}
		if m.MaxStreams < 0 {
			errs = append(errs, fmt.Errorf("%s.max_streams: %d is negative", at, m.MaxStreams))
		}
		switch m.OnLimit {
		case "", OnLimitDrop:
		case OnLimitOverflow:
			if m.MaxStreams == 0 {
				errs = append(errs, fmt.Errorf("%s.on_limit: overflow needs max_streams", at))
			}
		default:
			errs = append(errs, fmt.Errorf("%s.on_limit: %q must be %s or %s", at, m.OnLimit, OnLimitDrop, OnLimitOverflow))
		}
	}
	return errors.Join(errs...)
}

func (w When) check() error {
	if w.Key == "" {
		return errors.New("key: empty")
	}
	if w.Present == (w.Equals != nil) {
		return fmt.Errorf("%s: exactly one of present: true and equals", w.Key)
	}
	if w.Present {
		return nil
	}
	return genaicommon.CheckEquals(w.Key, w.Equals)
}
