// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiusageconnector

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/genai-o11y/genai-o11y/collector/genaicommon"
)

// ScopeName is the instrumentation scope of the metrics this connector makes.
const ScopeName = "github.com/genai-o11y/genai-o11y/collector/genaiusageconnector"

// maxKeys bounds the distinct span attributes the metrics read (the per-span index is an array).
const maxKeys = 64

type cond struct {
	slot    int
	present bool
	equals  any
}

// holds: OTTL's `attr != nil` or `attr == value`.
func (c cond) holds(vals *[maxKeys]pcommon.Value, has *[maxKeys]bool) bool {
	return has[c.slot] && (c.present || genaicommon.Equal(vals[c.slot], c.equals))
}

type label struct {
	slot int
	key  string
	def  *string
}

type metricDef struct {
	name, description, unit string
	when                    []cond
	labels                  []label
	resGroup                int
	valueSlot               int // -1: every span counts 1
	isDouble                bool
	histogram               []float64
	monotonic               bool
	maxStreams              int
	tracked                 int
	attrName                attribute.Set
}

// stream is one cumulative series: a metric, its resource labels and its labels.
type stream struct {
	metric  int
	resKey  string
	res     pcommon.Map
	attrs   pcommon.Map
	start   pcommon.Timestamp
	last    time.Time
	intSum  int64
	dblSum  float64
	count   uint64
	counts  []uint64
	touched bool
}

type usage struct {
	component.StartFunc
	next      consumer.Metrics
	metrics   []metricDef
	slots     map[string]int
	resGroups [][]string
	maxStale  time.Duration

	mu      sync.Mutex
	streams map[string]*stream

	dropped metric.Int64Counter
	reg     metric.Registration
	stop    chan struct{}
	done    sync.WaitGroup
}

var reasonLimit, reasonValue = attribute.String("reason", "limit"), attribute.String("reason", "value")

func newUsage(c *Config, set component.TelemetrySettings, next consumer.Metrics) (*usage, error) {
	u := &usage{next: next, slots: map[string]int{}, maxStale: c.MaxStale, streams: map[string]*stream{}}
	slot := func(k string) int {
		if i, ok := u.slots[k]; ok {
			return i
		}
		u.slots[k] = len(u.slots)
		return len(u.slots) - 1
	}
	groups := map[string]int{}
	for _, m := range c.Metrics {
		d := metricDef{name: m.Name, description: m.Description, unit: m.Unit, valueSlot: -1, isDouble: m.Value.Type == "double",
			maxStreams: m.MaxStreams, attrName: attribute.NewSet(attribute.String("metric", m.Name))}
		for _, w := range m.When {
			d.when = append(d.when, cond{slot: slot(w.Key), present: w.Present, equals: w.Equals})
		}
		for _, l := range m.Labels {
			d.labels = append(d.labels, label{slot: slot(l.Key), key: l.Key, def: l.Default})
		}
		if m.Value.Key != "" {
			d.valueSlot = slot(m.Value.Key)
		}
		if m.Histogram != nil {
			d.histogram = append([]float64(nil), m.Histogram.Buckets...)
		} else {
			d.monotonic = m.Sum.Monotonic
		}
		gk := fmt.Sprintf("%q", m.ResourceLabels)
		g, ok := groups[gk]
		if !ok {
			g = len(u.resGroups)
			groups[gk] = g
			u.resGroups = append(u.resGroups, append([]string(nil), m.ResourceLabels...))
		}
		d.resGroup = g
		u.metrics = append(u.metrics, d)
	}
	if len(u.slots) > maxKeys {
		return nil, fmt.Errorf("metrics: read %d distinct span attributes, at most %d are supported", len(u.slots), maxKeys)
	}
	if err := u.telemetry(set); err != nil {
		return nil, err
	}
	return u, nil
}

// telemetry: otelcol_genai_usage_streams_tracked and _limit per metric (the limit only where there
// is one), and otelcol_genai_usage_datapoints_dropped by reason (limit: over the stream budget;
// value: the value attribute could not be read as a number).
func (u *usage) telemetry(set component.TelemetrySettings) error {
	if set.MeterProvider == nil {
		return nil
	}
	meter := set.MeterProvider.Meter(ScopeName)
	tracked, err := meter.Int64ObservableGauge("otelcol_genai_usage_streams_tracked",
		metric.WithDescription("Label sets (streams) tracked per metric."), metric.WithUnit("{stream}"))
	if err != nil {
		return err
	}
	limit, err := meter.Int64ObservableGauge("otelcol_genai_usage_streams_limit",
		metric.WithDescription("Stream budget per metric (max_streams), where it has one."), metric.WithUnit("{stream}"))
	if err != nil {
		return err
	}
	if u.dropped, err = meter.Int64Counter("otelcol_genai_usage_datapoints_dropped",
		metric.WithDescription("Span observations not recorded, by reason (limit: over the metric's stream budget; value: not a number)."),
		metric.WithUnit("{datapoint}")); err != nil {
		return err
	}
	u.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		u.mu.Lock()
		defer u.mu.Unlock()
		for i := range u.metrics {
			m := &u.metrics[i]
			o.ObserveInt64(tracked, int64(m.tracked), metric.WithAttributeSet(m.attrName))
			if m.maxStreams > 0 {
				o.ObserveInt64(limit, int64(m.maxStreams), metric.WithAttributeSet(m.attrName))
			}
		}
		return nil
	}, tracked, limit)
	return err
}

func (*usage) Capabilities() consumer.Capabilities { return consumer.Capabilities{MutatesData: false} }

// Start runs the expiry of stale streams.
func (u *usage) Start(context.Context, component.Host) error {
	u.stop = make(chan struct{})
	u.done.Add(1)
	go func() {
		defer u.done.Done()
		tick := time.NewTicker(min(u.maxStale/2, time.Minute))
		defer tick.Stop()
		for {
			select {
			case <-u.stop:
				return
			case now := <-tick.C:
				u.expire(now)
			}
		}
	}()
	return nil
}

// Shutdown stops the expiry and the telemetry callback.
func (u *usage) Shutdown(context.Context) error {
	if u.stop != nil {
		close(u.stop)
		u.done.Wait()
		u.stop = nil
	}
	if u.reg != nil {
		return u.reg.Unregister()
	}
	return nil
}

// expire forgets the streams not updated for max_stale.
func (u *usage) expire(now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, s := range u.streams {
		if now.Sub(s.last) > u.maxStale {
			delete(u.streams, k)
			u.metrics[s.metric].tracked--
		}
	}
}

// ConsumeTraces updates the streams the spans feed and sends their cumulative values on.
// Attribute lookups are linear in pdata, so the keys the metrics read are found in one pass over
// each span's attributes first.
func (u *usage) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	var (
		vals    [maxKeys]pcommon.Value
		has     [maxKeys]bool
		key     []byte
		touched []*stream
		drops   = make([][2]int64, len(u.metrics))
	)
	resKeys := make([][]byte, len(u.resGroups))
	now := time.Now()
	ts := pcommon.NewTimestampFromTime(now)

	u.mu.Lock()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		for g, keys := range u.resGroups {
			resKeys[g] = appendGroup(resKeys[g][:0], g, keys, res)
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				clear(has[:])
				for ak, av := range spans.At(k).Attributes().All() {
					if s, ok := u.slots[ak]; ok && !has[s] && av.Type() != pcommon.ValueTypeEmpty {
						vals[s], has[s] = av, true
					}
				}
				for mi := range u.metrics {
					m := &u.metrics[mi]
					if !m.feeds(&vals, &has) {
						continue
					}
					var iv int64
					var dv float64
					if m.valueSlot < 0 {
						iv, dv = 1, 1
					} else if v := vals[m.valueSlot]; m.isDouble {
						var ok bool
						if dv, ok = genaicommon.AsDouble(v); !ok {
							drops[mi][1]++
							continue
						}
					} else {
						var ok bool
						if iv, ok = genaicommon.AsInt(v); !ok {
							drops[mi][1]++
							continue
						}
					}
					key = binary.LittleEndian.AppendUint16(key[:0], uint16(mi))
					key = append(key, resKeys[m.resGroup]...)
					for _, l := range m.labels {
						if has[l.slot] {
							key = appendValue(key, vals[l.slot])
						} else {
							key = appendStr(key, *l.def)
						}
					}
					s := u.streams[string(key)]
					if s == nil {
						if m.maxStreams > 0 && m.tracked >= m.maxStreams {
							drops[mi][0]++
							continue
						}
						s = u.newStream(mi, string(resKeys[m.resGroup]), res, &vals, &has, ts)
						u.streams[string(key)] = s
						m.tracked++
					}
					s.last = now
					switch {
					case m.histogram != nil:
						s.count++
						s.dblSum += dv
						s.counts[sort.SearchFloat64s(m.histogram, dv)]++
					case m.isDouble:
						s.dblSum += dv
					default:
						s.intSum += iv
					}
					if !s.touched {
						s.touched = true
						touched = append(touched, s)
					}
				}
			}
		}
	}
	out := u.export(touched, ts)
	u.mu.Unlock()

	if u.dropped != nil {
		for mi, d := range drops {
			if d[0] > 0 {
				u.dropped.Add(ctx, d[0], metric.WithAttributes(reasonLimit, attribute.String("metric", u.metrics[mi].name)))
			}
			if d[1] > 0 {
				u.dropped.Add(ctx, d[1], metric.WithAttributes(reasonValue, attribute.String("metric", u.metrics[mi].name)))
			}
		}
	}
	if out.DataPointCount() == 0 {
		return nil
	}
	return u.next.ConsumeMetrics(ctx, out)
}

// feeds: every condition holds and every label without a default is on the span.
func (m *metricDef) feeds(vals *[maxKeys]pcommon.Value, has *[maxKeys]bool) bool {
	for _, c := range m.when {
		if !c.holds(vals, has) {
			return false
		}
	}
	for _, l := range m.labels {
		if l.def == nil && !has[l.slot] {
			return false
		}
	}
	return true
}

func (u *usage) newStream(mi int, resKey string, res pcommon.Map, vals *[maxKeys]pcommon.Value, has *[maxKeys]bool, ts pcommon.Timestamp) *stream {
	m := &u.metrics[mi]
	s := &stream{metric: mi, resKey: resKey, res: pcommon.NewMap(), attrs: pcommon.NewMap(), start: ts}
	for _, k := range u.resGroups[m.resGroup] {
		if v, ok := res.Get(k); ok {
			v.CopyTo(s.res.PutEmpty(k))
		}
	}
	s.attrs.EnsureCapacity(len(m.labels))
	for _, l := range m.labels {
		if has[l.slot] {
			vals[l.slot].CopyTo(s.attrs.PutEmpty(l.key))
		} else {
			s.attrs.PutStr(l.key, *l.def)
		}
	}
	if m.histogram != nil {
		s.counts = make([]uint64, len(m.histogram)+1)
	}
	return s
}

// export: the touched streams' cumulative values, grouped by resource and metric.
func (u *usage) export(touched []*stream, ts pcommon.Timestamp) pmetric.Metrics {
	out := pmetric.NewMetrics()
	type mkey struct {
		res    string
		metric int
	}
	scopes := map[string]pmetric.MetricSlice{}
	metrics := map[mkey]pmetric.Metric{}
	for _, s := range touched {
		s.touched = false
		ms, ok := scopes[s.resKey]
		if !ok {
			rm := out.ResourceMetrics().AppendEmpty()
			s.res.CopyTo(rm.Resource().Attributes())
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(ScopeName)
			ms = sm.Metrics()
			scopes[s.resKey] = ms
		}
		d := &u.metrics[s.metric]
		pm, ok := metrics[mkey{s.resKey, s.metric}]
		if !ok {
			pm = ms.AppendEmpty()
			pm.SetName(d.name)
			pm.SetDescription(d.description)
			pm.SetUnit(d.unit)
			if d.histogram != nil {
				pm.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			} else {
				sum := pm.SetEmptySum()
				sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				sum.SetIsMonotonic(d.monotonic)
			}
			metrics[mkey{s.resKey, s.metric}] = pm
		}
		if d.histogram != nil {
			dp := pm.Histogram().DataPoints().AppendEmpty()
			s.attrs.CopyTo(dp.Attributes())
			dp.SetStartTimestamp(s.start)
			dp.SetTimestamp(ts)
			dp.SetCount(s.count)
			dp.SetSum(s.dblSum)
			dp.ExplicitBounds().FromRaw(d.histogram)
			dp.BucketCounts().FromRaw(s.counts)
			continue
		}
		dp := pm.Sum().DataPoints().AppendEmpty()
		s.attrs.CopyTo(dp.Attributes())
		dp.SetStartTimestamp(s.start)
		dp.SetTimestamp(ts)
		if d.isDouble {
			dp.SetDoubleValue(s.dblSum)
		} else {
			dp.SetIntValue(s.intSum)
		}
	}
	return out
}

// appendGroup encodes a resource-label group: its index and each key's value (or absence).
func appendGroup(b []byte, g int, keys []string, res pcommon.Map) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(g))
	for _, k := range keys {
		if v, ok := res.Get(k); ok {
			b = appendValue(b, v)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

// appendValue encodes a value with its type, so that "1", 1 and true are different label sets.
func appendValue(b []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendStr(b, v.Str())
	case pcommon.ValueTypeInt:
		return binary.LittleEndian.AppendUint64(append(b, 2), uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		return binary.LittleEndian.AppendUint64(append(b, 3), math.Float64bits(v.Double()))
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return append(b, 4, 1)
		}
		return append(b, 4, 0)
	}
	s := v.AsString()
	return append(binary.AppendUvarint(append(b, 5, byte(v.Type())), uint64(len(s))), s...)
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(append(b, 1), uint64(len(s))), s...)
}
