// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiusageconnector

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon"
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

// attrs: the values of the keys the metrics read, by slot, of one span or span event.
type attrs struct {
	vals [maxKeys]pcommon.Value
	has  [maxKeys]bool
	// a span's own fields (not of a span event nor a log record: config.go refuses those sources there)
	status   ptrace.StatusCode
	durNanos uint64
	res      *attrs // the resource's values of the resource-sourced labels
}

// statusCodes: a span's status code as the span_metrics connector labels it (traceutil.StatusCodeStr).
var statusCodes = [...]string{ptrace.StatusCodeUnset: "STATUS_CODE_UNSET", ptrace.StatusCodeOk: "STATUS_CODE_OK", ptrace.StatusCodeError: "STATUS_CODE_ERROR"}

func statusCodeStr(c ptrace.StatusCode) string {
	if int(c) < len(statusCodes) {
		return statusCodes[c]
	}
	return "STATUS_CODE_UNSET"
}

// OverflowKey labels the one stream per resource that takes the data points past a metric's
// max_streams with on_limit: overflow (OpenTelemetry's cardinality-limit attribute).
const OverflowKey = "otel.metric.overflow"

// load: the values of m's keys the metrics read (the first of a key wins; empty values are absent).
func (a *attrs) load(m pcommon.Map, slots map[string]int) {
	clear(a.has[:])
	for ak, av := range m.All() {
		if s, ok := slots[ak]; ok && !a.has[s] && av.Type() != pcommon.ValueTypeEmpty {
			a.vals[s], a.has[s] = av, true
		}
	}
}

// fill: the values of from (a resource's, loaded with the same slots) where a has none.
func (a *attrs) fill(from *attrs, slots []int) {
	for _, s := range slots {
		if !a.has[s] && from.has[s] {
			a.vals[s], a.has[s] = from.vals[s], true
		}
	}
}

// holds: OTTL's `attr != nil` or `attr == value`.
func (c cond) holds(a *attrs) bool {
	return a.has[c.slot] && (c.present || genaicommon.Equal(a.vals[c.slot], c.equals))
}

type label struct {
	slot     int
	key      string
	def      *string
	fromSpan bool // a span_event metric reads it from the span carrying the event
	optional bool // absent: no such label on the data point
	status   bool // the span's status code (no slot)
	resource bool // read from the span's resource (its slot in resSlots)
}

// of: the attributes a label is read from: the event's, or the span's for a span label, or the
// span's resource's (held by the span's attrs).
func (l *label) of(ev, sp *attrs) *attrs {
	switch {
	case l.resource:
		return sp.res
	case l.fromSpan:
		return sp
	}
	return ev
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
	spanEvent               string  // also fed by the span events of this name
	exemplars               bool    // histogram points carry the last observation's trace
	durationDiv             float64 // > 0: the value is the span's duration, in nanoseconds / durationDiv
	// labelGroup: the first metric with the same labels (and resource labels): within one observation
	// they share the encoding of their label values, built once (the token, cost and span metrics)
	labelGroup int
	overflow   bool // past maxStreams: the overflow stream, not dropped
	attrName   attribute.Set
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
	// overflow: the stream of the data points past max_streams (not counted in tracked)
	overflow bool
	// the exemplar of this interval (exemplars on): the last observation's trace, span, value and time
	hasEx   bool
	exTs    pcommon.Timestamp
	exTrace pcommon.TraceID
	exSpan  pcommon.SpanID
	exValue float64
}

type usage struct {
	component.StartFunc
	next      consumer.Metrics
	metrics   []metricDef
	slots     map[string]int
	resGroups [][]string
	maxStale  time.Duration
	// events: span event name -> the metrics those events feed.
	events map[string][]int
	// logResSlots: the slots of the span labels a log record reads from its resource (log_resource_labels).
	logResSlots map[string]int
	// spanLabelSlots: every span label of the span_event metrics (a log record's own attribute wins);
	// joinSlots: those not read from the resource, which a record takes from its span (join).
	spanLabelSlots, joinSlots []int
	join                      *joinStore
	respSlot                  int
	// resSlots: the resource attributes read by labels of source resource (slots apart from the span's)
	resSlots map[string]int
	// copySlots: CopyFromResource, key -> slot (the span attribute's own): a span or record lacking
	// the attribute reads the resource's value (loaded once per resource into cpA)
	copySlots map[string]int
	copyList  []int // its slots
	require   int   // RequireKey's slot (-1: none)
	fold      *folder
	roots     []int // scratch: the spans of a scope that get a request view

	mu      sync.Mutex
	streams map[string]*stream
	// scratch of the batch holding mu: a stream key, the label encodings of the current observation
	// by label group (valid where groupObs is obs), and the attributes of the span, event and resource
	key                 []byte
	groupKeys           [][]byte
	groupObs            []uint64
	obs                 uint64
	spA, evA, resA, cpA attrs
	lgEv, lgSp          attrs // a log record's and its span labels'
	// pending: log records waiting for their span (join.wait), oldest first; retried: when last tried
	pending    []pendingRecord
	retried    time.Time
	joinWait   time.Duration
	maxWaiting int
	// dirty: the streams updated since the last flush (their touched flag set), sent on by flush.
	dirty         []*stream
	flushInterval time.Duration

	dropped              metric.Int64Counter
	joinHits, joinMisses metric.Int64Counter
	joinEvicted          metric.Int64Counter
	reg                  metric.Registration
	logger               *zap.Logger
	stop                 chan struct{}
	done                 sync.WaitGroup
}

var reasonLimit, reasonValue = attribute.String("reason", "limit"), attribute.String("reason", "value")

// Why a log record that needed its span's labels did not get them.
var (
	missNotFound    = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "not_found")))
	missNoReference = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "no_reference")))
)

func newUsage(c *Config, set component.TelemetrySettings, next consumer.Metrics) (*usage, error) {
	u := &usage{next: next, slots: map[string]int{}, maxStale: c.MaxStale, flushInterval: c.MetricsFlushInterval, streams: map[string]*stream{}, events: map[string][]int{}, logResSlots: map[string]int{}, resSlots: map[string]int{}, copySlots: map[string]int{}, respSlot: -1, require: -1}
	slot := func(k string) int {
		if i, ok := u.slots[k]; ok {
			return i
		}
		u.slots[k] = len(u.slots)
		return len(u.slots) - 1
	}
	groups := map[string]int{}
	spanLabels := map[string]bool{}
	for _, m := range c.Metrics {
		d := metricDef{name: m.Name, description: m.Description, unit: m.Unit, valueSlot: -1, isDouble: m.Value.Type == "double",
			maxStreams: m.MaxStreams, exemplars: m.Exemplars, attrName: attribute.NewSet(attribute.String("metric", m.Name))}
		for _, w := range m.When {
			d.when = append(d.when, cond{slot: slot(w.Key), present: w.Present, equals: w.Equals})
		}
		fromSpan := map[string]bool{}
		if m.SpanEvent != nil {
			d.spanEvent = m.SpanEvent.Name
			u.events[d.spanEvent] = append(u.events[d.spanEvent], len(u.metrics))
			for _, k := range m.SpanEvent.SpanLabels {
				fromSpan[k] = true
				if !spanLabels[k] {
					spanLabels[k] = true
					u.spanLabelSlots = append(u.spanLabelSlots, slot(k))
				}
			}
			for _, k := range m.SpanEvent.LogResourceLabels {
				u.logResSlots[k] = slot(k)
			}
		}
		for _, l := range m.Labels {
			if l.Source == SourceStatusCode {
				d.labels = append(d.labels, label{slot: -1, key: l.Key, status: true})
				continue
			}
			if l.Source == SourceResource {
				// a slot no span attribute loads into: the key is not a span attribute name
				s := slot("\x00resource\x00" + l.Key)
				u.resSlots[l.Key] = s
				d.labels = append(d.labels, label{slot: s, key: l.Key, def: l.Default, optional: l.Optional, resource: true})
				continue
			}
			d.labels = append(d.labels, label{slot: slot(l.Key), key: l.Key, def: l.Default, fromSpan: fromSpan[l.Key], optional: l.Optional})
		}
		if m.Value.Source == SourceSpanDuration {
			d.durationDiv = durationUnits[m.Unit]
		} else if m.Value.Key != "" {
			d.valueSlot = slot(m.Value.Key)
		}
		d.overflow = m.OnLimit == OnLimitOverflow
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
	for i := range u.metrics {
		u.metrics[i].labelGroup = i
		for j := 0; j < i; j++ {
			if sameLabels(&u.metrics[i], &u.metrics[j]) {
				u.metrics[i].labelGroup = j
				break
			}
		}
	}
	u.groupKeys, u.groupObs = make([][]byte, len(u.metrics)), make([]uint64, len(u.metrics))
	fromResource := map[int]bool{}
	for _, s := range u.logResSlots {
		fromResource[s] = true
	}
	for _, s := range u.spanLabelSlots {
		if !fromResource[s] {
			u.joinSlots = append(u.joinSlots, s)
		}
	}
	if c.Join.MaxEntries > 0 && len(u.joinSlots) > 0 {
		u.join = newJoinStore(c.Join.MaxEntries, c.Join.TTL)
		u.joinWait, u.maxWaiting = c.Join.Wait, c.Join.MaxWaiting
		if c.Join.ResponseIDKey != "" {
			u.respSlot = slot(c.Join.ResponseIDKey)
		}
	}
	if c.RequireKey != "" {
		u.require = slot(c.RequireKey)
	}
	u.fold = newFolder(&c.Fold, slot)
	for _, k := range c.CopyFromResource {
		if _, read := u.slots[k]; read { // a key no metric reads needs no value
			u.copySlots[k] = u.slots[k]
			u.copyList = append(u.copyList, u.slots[k])
		}
	}
	if len(u.slots) > maxKeys {
		return nil, fmt.Errorf("metrics: read %d distinct span attributes, at most %d are supported", len(u.slots), maxKeys)
	}
	u.logger = set.Logger
	if err := u.telemetry(set); err != nil {
		return nil, err
	}
	return u, nil
}

// sameLabels: a and b encode the same label values from the same observation (same labels, read
// from the same places, same defaults, same resource labels).
func sameLabels(a, b *metricDef) bool {
	if a.resGroup != b.resGroup || len(a.labels) != len(b.labels) {
		return false
	}
	for i := range a.labels {
		x, y := a.labels[i], b.labels[i]
		if x.slot != y.slot || x.fromSpan != y.fromSpan || x.optional != y.optional || x.status != y.status || x.resource != y.resource ||
			(x.def == nil) != (y.def == nil) || (x.def != nil && *x.def != *y.def) {
			return false
		}
	}
	return true
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
	if u.joinHits, err = meter.Int64Counter("otelcol_genai_usage_join_hits",
		metric.WithDescription("Log records (OTel events) that took the labels of their span (found by span id or response id)."),
		metric.WithUnit("{record}")); err != nil {
		return err
	}
	if u.joinMisses, err = meter.Int64Counter("otelcol_genai_usage_join_misses",
		metric.WithDescription("Log records (OTel events) whose span labels stayed at their defaults, by reason (not_found: no span of that id or response id "+
			"passed this collector within the ttl; no_reference: the record names no span nor response)."),
		metric.WithUnit("{record}")); err != nil {
		return err
	}
	if u.joinEvicted, err = meter.Int64Counter("otelcol_genai_usage_join_evicted",
		metric.WithDescription("Spans forgotten before their ttl because the join held max_entries (raise join.max_entries)."),
		metric.WithUnit("{entry}")); err != nil {
		return err
	}
	entries, err := meter.Int64ObservableGauge("otelcol_genai_usage_join_entries",
		metric.WithDescription("Spans remembered for the log records that join them (at most join.max_entries)."), metric.WithUnit("{entry}"))
	if err != nil {
		return err
	}
	u.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		u.mu.Lock()
		defer u.mu.Unlock()
		if u.join != nil {
			o.ObserveInt64(entries, int64(u.join.size))
		}
		for i := range u.metrics {
			m := &u.metrics[i]
			o.ObserveInt64(tracked, int64(m.tracked), metric.WithAttributeSet(m.attrName))
			if m.maxStreams > 0 {
				o.ObserveInt64(limit, int64(m.maxStreams), metric.WithAttributeSet(m.attrName))
			}
		}
		return nil
	}, tracked, limit, entries)
	return err
}

func (*usage) Capabilities() consumer.Capabilities { return consumer.Capabilities{MutatesData: false} }

// Start runs the flush of the updated streams every metrics_flush_interval and the expiry of stale streams.
func (u *usage) Start(context.Context, component.Host) error {
	u.stop = make(chan struct{})
	u.done.Add(1)
	go func() {
		defer u.done.Done()
		expiry := time.NewTicker(min(u.maxStale/2, time.Minute))
		defer expiry.Stop()
		flush := time.NewTicker(u.flushInterval)
		defer flush.Stop()
		retry := time.NewTicker(time.Second) // the records waiting for their span, without traffic too
		defer retry.Stop()
		for {
			select {
			case <-u.stop:
				return
			case <-retry.C:
				if u.joinWait > 0 {
					_ = u.retryWaiting(context.Background(), false)
				}
			case <-flush.C:
				// an error is the next consumer's (the prometheus exporter's): nothing to retry, the
				// cumulative totals go again with the stream's next update
				if err := u.flush(context.Background()); err != nil && u.logger != nil {
					u.logger.Warn("genai_usage: sending the metrics failed", zap.Error(err))
				}
			case now := <-expiry.C:
				u.expire(now)
			}
		}
	}()
	return nil
}

// Shutdown stops the flush and the expiry, sends what was updated since the last flush, and stops
// the telemetry callback.
func (u *usage) Shutdown(ctx context.Context) error {
	if u.stop != nil {
		close(u.stop)
		u.done.Wait()
		u.stop = nil
	}
	err := u.retryWaiting(ctx, true) // every waiting record counts before the last flush
	err = errors.Join(err, u.flush(ctx))
	if u.reg != nil {
		return errors.Join(err, u.reg.Unregister())
	}
	return err
}

// retryWaiting observes the waiting records whose span has passed, and those due (all with force).
func (u *usage) retryWaiting(ctx context.Context, force bool) error {
	p := u.begin()
	if len(u.pending) > 0 {
		p.retry(force)
	}
	return p.end(ctx)
}

// retryEvery: how often a traces batch tries the waiting records again (their span may be in it).
const retryEvery = 200 * time.Millisecond

// flush sends the cumulative values of the streams updated since the last flush.
func (u *usage) flush(ctx context.Context) error {
	u.mu.Lock()
	if len(u.dirty) == 0 {
		u.mu.Unlock()
		return nil
	}
	out := u.export(u.dirty, pcommon.NewTimestampFromTime(time.Now()))
	clear(u.dirty)
	u.dirty = u.dirty[:0]
	u.mu.Unlock()
	return u.next.ConsumeMetrics(ctx, out)
}

// expire forgets the streams not updated for max_stale (a stream not yet flushed stays until it is).
func (u *usage) expire(now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, s := range u.streams {
		if !s.touched && now.Sub(s.last) > u.maxStale {
			delete(u.streams, k)
			if !s.overflow {
				u.metrics[s.metric].tracked--
			}
		}
	}
	if u.join != nil {
		u.join.expire(now.UnixNano())
	}
}

// pass is one batch's work: it updates the streams (flush sends them on) and counts the observations it dropped.
type pass struct {
	u     *usage
	drops [][2]int64
	// join outcomes of this batch's log records: hits, not found, no reference
	joins   [3]int64
	evicted int64
	now     time.Time
	ts      pcommon.Timestamp
}

// begin locks the streams for one batch; end unlocks and records the batch's own telemetry.
func (u *usage) begin() *pass {
	now := time.Now()
	u.mu.Lock()
	return &pass{u: u, drops: make([][2]int64, len(u.metrics)), now: now, ts: pcommon.NewTimestampFromTime(now)}
}

// observe: metric mi on an observation whose conditions, value and labels are read from ev, span
// labels from sp (both the span itself for a span).
func (p *pass) observe(mi int, ev, sp *attrs, resKey []byte, res pcommon.Map, tid pcommon.TraceID, sid pcommon.SpanID) {
	u := p.u
	m := &u.metrics[mi]
	if !m.feeds(ev, sp) {
		return
	}
	var iv int64
	var dv float64
	if m.durationDiv > 0 {
		dv = float64(sp.durNanos) / m.durationDiv
	} else if m.valueSlot < 0 {
		iv, dv = 1, 1
	} else if v := ev.vals[m.valueSlot]; m.isDouble {
		var ok bool
		if dv, ok = genaicommon.AsDouble(v); !ok {
			p.drops[mi][1]++
			return
		}
	} else {
		var ok bool
		if iv, ok = genaicommon.AsInt(v); !ok {
			p.drops[mi][1]++
			return
		}
	}
	g := m.labelGroup
	if u.groupObs[g] != u.obs {
		enc := u.groupKeys[g][:0]
		for i := range m.labels {
			l := &m.labels[i]
			switch a := l.of(ev, sp); {
			case l.status:
				enc = append(enc, 6, byte(sp.status))
			case a.has[l.slot]:
				enc = appendValue(enc, a.vals[l.slot])
			case l.optional:
				enc = append(enc, 0)
			default:
				enc = appendStr(enc, *l.def)
			}
		}
		u.groupKeys[g], u.groupObs[g] = enc, u.obs
	}
	key := binary.LittleEndian.AppendUint16(u.key[:0], uint16(mi))
	key = append(append(key, resKey...), u.groupKeys[g]...)
	u.key = key
	s := u.streams[string(key)]
	if s == nil {
		if m.maxStreams > 0 && m.tracked >= m.maxStreams {
			if !m.overflow {
				p.drops[mi][0]++
				return
			}
			// the resource's overflow stream: the metric, the resource, and a marker no label encoding starts with
			key = append(binary.LittleEndian.AppendUint16(u.key[:0], uint16(mi)), resKey...)
			key = append(key, 0xff)
			u.key = key
			if s = u.streams[string(key)]; s == nil {
				s = u.newOverflowStream(mi, string(resKey), res, p.ts)
				u.streams[string(key)] = s
			}
		} else {
			s = u.newStream(mi, string(resKey), res, ev, sp, p.ts)
			u.streams[string(key)] = s
			m.tracked++
		}
	}
	s.last = p.now
	switch {
	case m.histogram != nil:
		s.count++
		s.dblSum += dv
		s.counts[sort.SearchFloat64s(m.histogram, dv)]++
		if m.exemplars && !tid.IsEmpty() {
			s.hasEx, s.exTs, s.exTrace, s.exSpan, s.exValue = true, p.ts, tid, sid, dv
		}
	case m.isDouble:
		s.dblSum += dv
	default:
		s.intSum += iv
	}
	if !s.touched {
		s.touched = true
		u.dirty = append(u.dirty, s)
	}
}

func (p *pass) end(ctx context.Context) error {
	u := p.u
	if u.join != nil {
		p.evicted, u.join.evicted = u.join.evicted, 0
	}
	u.mu.Unlock()

	if u.dropped != nil {
		for mi, d := range p.drops {
			if d[0] > 0 {
				u.dropped.Add(ctx, d[0], metric.WithAttributes(reasonLimit, attribute.String("metric", u.metrics[mi].name)))
			}
			if d[1] > 0 {
				u.dropped.Add(ctx, d[1], metric.WithAttributes(reasonValue, attribute.String("metric", u.metrics[mi].name)))
			}
		}
	}
	if u.joinHits != nil {
		if p.joins[0] > 0 {
			u.joinHits.Add(ctx, p.joins[0])
		}
		if p.joins[1] > 0 {
			u.joinMisses.Add(ctx, p.joins[1], missNotFound)
		}
		if p.joins[2] > 0 {
			u.joinMisses.Add(ctx, p.joins[2], missNoReference)
		}
		if p.evicted > 0 {
			u.joinEvicted.Add(ctx, p.evicted)
		}
	}
	return nil
}

// ConsumeTraces updates the streams the spans (and their span events) feed (flush sends their
// cumulative values on). Attribute lookups are linear in pdata, so the keys the metrics read are
// found in one pass over each span's (event's) attributes first.
func (u *usage) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	p := u.begin()
	// the batch's scratch (it holds the lock): no allocation per batch
	sp, ev, resAttrs := &u.spA, &u.evA, &u.resA
	sp.res = resAttrs
	resKeys := make([][]byte, len(u.resGroups))
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		for g, keys := range u.resGroups {
			resKeys[g] = appendGroup(resKeys[g][:0], g, keys, res)
		}
		if len(u.resSlots) > 0 {
			resAttrs.load(res, u.resSlots)
		}
		cp := &u.cpA
		cp.load(res, u.copySlots)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			roots := u.roots[:0]
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				sp.load(span.Attributes(), u.slots)
				if u.require >= 0 && !sp.has[u.require] {
					continue
				}
				if f := u.fold; f != nil && f.view != nil && f.view.wants(span, sp) {
					roots = append(roots, k)
				}
				p.span(span, sp, ev, cp, res, resKeys, false)
			}
			// the request views, after the spans of their scope (as copies appended to it would be)
			for _, k := range roots {
				span := spans.At(k)
				sp.load(span.Attributes(), u.slots)
				u.fold.view.restrict(sp)
				p.span(span, sp, ev, cp, res, resKeys, true)
			}
			u.roots = roots
		}
	}
	if len(u.pending) > 0 && p.now.Sub(u.retried) >= retryEvery {
		p.retry(false)
	}
	return p.end(ctx)
}

// span observes one span (or, view, its request view) whose attributes sp holds as it came: the
// resource's values where it lacks them, folded, then every metric and the events that feed some.
func (p *pass) span(span ptrace.Span, sp, ev, cp *attrs, res pcommon.Map, resKeys [][]byte, view bool) {
	u := p.u
	sp.fill(cp, u.copyList)
	sp.status = span.Status().Code()
	if start, end := span.StartTimestamp(), span.EndTimestamp(); end > start {
		sp.durNanos = uint64(end - start)
	} else {
		sp.durNanos = 0 // as span_metrics: an end before the start is a zero duration
	}
	if u.fold != nil {
		u.fold.span(sp)
	}
	if u.join != nil {
		p.remember(span.SpanID(), span.ParentSpanID(), sp)
	}
	u.obs++ // a new observation: the label encodings of the last one are stale
	for mi := range u.metrics {
		p.observe(mi, sp, sp, resKeys[u.metrics[mi].resGroup], res, span.TraceID(), span.SpanID())
	}
	if len(u.events) == 0 {
		return
	}
	events := span.Events()
	for e := 0; e < events.Len(); e++ {
		event := events.At(e)
		feeds := u.events[event.Name()]
		if len(feeds) == 0 || view && u.fold.view.drop.has(event.Name()) {
			continue
		}
		ev.load(event.Attributes(), u.slots)
		if u.fold != nil && u.fold.events.has(event.Name()) {
			u.fold.values(ev)
		}
		u.obs++
		for _, mi := range feeds {
			p.observe(mi, ev, sp, resKeys[u.metrics[mi].resGroup], res, span.TraceID(), span.SpanID())
		}
	}
}

// EventNameKey: the attribute that names an OTel event on a log record that has no event name (older SDKs).
const EventNameKey = "event.name"

// remember: a span by its span id (one without any join label too: a record on it takes its labelled
// child's, and need not wait for it), and, carrying any join label, by its response id (join) and as
// its parent's latest labelled child.
func (p *pass) remember(id, parent pcommon.SpanID, sp *attrs) {
	u := p.u
	enc, some := u.key[:0], false
	for _, s := range u.joinSlots {
		if sp.has[s] {
			enc, some = appendValue(enc, sp.vals[s]), true
		} else {
			enc = append(enc, 0)
		}
	}
	u.key = enc
	now := p.now.UnixNano()
	if !id.IsEmpty() {
		u.join.put(spanKey(id), enc, u.joinSlots, sp, now)
	}
	if !some {
		return
	}
	if !parent.IsEmpty() {
		u.join.put(childKey(parent), enc, u.joinSlots, sp, now)
	}
	if r := u.respSlot; r >= 0 && sp.has[r] && sp.vals[r].Type() == pcommon.ValueTypeStr {
		u.join.put(responseKey(sp.vals[r].Str()), enc, u.joinSlots, sp, now)
	}
}

// spanOf: the span labels of a log record, in sp (which holds those of its resource): the record's
// own attribute where it has one (normalised and folded upstream like a span's), else, for a join
// label, its span's (by span id, else response id; counted), else the resource's, else the default.
func (p *pass) spanOf(lr plog.LogRecord, ev, sp *attrs, final bool) bool {
	u := p.u
	need := false
	for _, s := range u.joinSlots {
		need = need || !ev.has[s]
	}
	if need && u.join != nil {
		now := p.now.UnixNano()
		var set *labelSet
		referenced := !lr.SpanID().IsEmpty()
		if referenced {
			// the span's own labels; a span seen without any (a zero-code app's server span), or one not
			// seen when the wait is over: its latest labelled child's
			set = u.join.get(spanKey(lr.SpanID()), now)
			if set != nil && set.none || set == nil && (final || u.joinWait == 0) {
				if child := u.join.get(childKey(lr.SpanID()), now); child != nil {
					set = child
				} // else a span seen without labels is still found: its (no) labels are taken
			}
		}
		if r := u.respSlot; set == nil && r >= 0 && ev.has[r] && ev.vals[r].Type() == pcommon.ValueTypeStr {
			referenced = true
			set = u.join.get(responseKey(ev.vals[r].Str()), now)
		}
		switch {
		case set != nil:
			p.joins[0]++
			for i, s := range u.joinSlots {
				if set.has[i] {
					sp.vals[s], sp.has[s] = set.vals[i], true
				}
			}
		case referenced && !final && u.joinWait > 0:
			return false // its span may come yet
		case referenced:
			p.joins[1]++
		default:
			p.joins[2]++
		}
	}
	for _, s := range u.spanLabelSlots {
		if ev.has[s] {
			sp.vals[s], sp.has[s] = ev.vals[s], true
		}
	}
	return true
}

// ConsumeLogs: OTel events as log records (the event name, else the attribute event.name) feed the
// metrics of the span event of that name exactly as the span event does, but for the span labels:
// a log record is not on the evaluated span, so those are the record's own attributes where it
// carries them, else (the evaluated call's model, route, prompt) the labels of the span it names,
// remembered by the join (by span id, else gen_ai.response.id), else read from its resource where
// the metric's span_event lists them in log_resource_labels (service.name, environment, release),
// else their default.
func (u *usage) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if len(u.events) == 0 {
		return nil
	}
	p := u.begin()
	var r logResource
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		r.load(u, res)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			records := sls.At(j).LogRecords()
			for k := 0; k < records.Len(); k++ {
				lr := records.At(k)
				if feeds := u.events[eventName(lr)]; len(feeds) > 0 && !p.logRecord(lr, res, &r, feeds, false) {
					p.wait(lr, res)
				}
			}
		}
	}
	return p.end(ctx)
}

// eventName: a log record's event name, else its attribute event.name (older SDKs).
func eventName(lr plog.LogRecord) string {
	if name := lr.EventName(); name != "" {
		return name
	}
	if v, ok := lr.Attributes().Get(EventNameKey); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// logResource: what the records of one resource read from it.
type logResource struct {
	keys      [][]byte // by resource-label group
	labels    attrs    // the span labels read from the resource (log_resource_labels)
	copied    attrs    // copy_from_resource
	resGroups int
}

func (r *logResource) load(u *usage, res pcommon.Map) {
	if len(r.keys) != len(u.resGroups) {
		r.keys = make([][]byte, len(u.resGroups))
	}
	for g, keys := range u.resGroups {
		r.keys[g] = appendGroup(r.keys[g][:0], g, keys, res)
	}
	r.labels.load(res, u.logResSlots)
	r.copied.load(res, u.copySlots)
}

// logRecord observes one event record, unless it names a span the join has not seen yet and final
// is false: then it returns false and observes nothing (the record waits for its span: wait).
func (p *pass) logRecord(lr plog.LogRecord, res pcommon.Map, r *logResource, feeds []int, final bool) bool {
	u := p.u
	ev, sp := &u.lgEv, &u.lgSp
	ev.load(lr.Attributes(), u.slots)
	ev.fill(&r.copied, u.copyList)
	if u.fold != nil {
		u.fold.values(ev)
	}
	*sp = r.labels
	if !p.spanOf(lr, ev, sp, final) {
		return false
	}
	u.obs++
	for _, mi := range feeds {
		p.observe(mi, ev, sp, r.keys[u.metrics[mi].resGroup], res, lr.TraceID(), lr.SpanID())
	}
	return true
}

// pendingRecord: a record waiting for its span (join.wait), with its resource.
type pendingRecord struct {
	logs plog.Logs
	due  int64 // unix nanoseconds
}

// wait keeps a copy of a record whose span the join has not seen (the SDKs export log records
// sooner than spans: 1 s against 5 s by default), to be observed when its span passes or after
// join.wait (then without the span's labels, counted as not found); past join.max_waiting, now.
func (p *pass) wait(lr plog.LogRecord, res pcommon.Map) {
	u := p.u
	if len(u.pending) >= u.maxWaiting {
		var r logResource
		r.load(u, res)
		p.logRecord(lr, res, &r, u.events[eventName(lr)], true)
		return
	}
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	res.CopyTo(rl.Resource().Attributes())
	lr.CopyTo(rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty())
	u.pending = append(u.pending, pendingRecord{ld, p.now.UnixNano() + int64(u.joinWait)})
}

// retry observes the waiting records whose span has passed since, and those due (all with force).
func (p *pass) retry(force bool) {
	u := p.u
	kept := u.pending[:0]
	var r logResource
	for _, pr := range u.pending {
		rl := pr.logs.ResourceLogs().At(0)
		lr := rl.ScopeLogs().At(0).LogRecords().At(0)
		res := rl.Resource().Attributes()
		r.load(u, res)
		if !p.logRecord(lr, res, &r, u.events[eventName(lr)], force || p.now.UnixNano() >= pr.due) {
			kept = append(kept, pr)
		}
	}
	clear(u.pending[len(kept):])
	u.pending = kept
	u.retried = p.now
}

// feeds: every condition holds and every label without a default is there (ev: the span or
// event observed; sp: the span, for a span_event metric's span labels).
func (m *metricDef) feeds(ev, sp *attrs) bool {
	for _, c := range m.when {
		if !c.holds(ev) {
			return false
		}
	}
	for i := range m.labels {
		l := &m.labels[i]
		if l.def == nil && !l.optional && !l.status && !l.of(ev, sp).has[l.slot] {
			return false
		}
	}
	return true
}

func (u *usage) newStream(mi int, resKey string, res pcommon.Map, ev, sp *attrs, ts pcommon.Timestamp) *stream {
	m := &u.metrics[mi]
	s := &stream{metric: mi, resKey: resKey, res: pcommon.NewMap(), attrs: pcommon.NewMap(), start: ts}
	for _, k := range u.resGroups[m.resGroup] {
		if v, ok := res.Get(k); ok {
			v.CopyTo(s.res.PutEmpty(k))
		}
	}
	s.attrs.EnsureCapacity(len(m.labels))
	for i := range m.labels {
		l := &m.labels[i]
		switch a := l.of(ev, sp); {
		case l.status:
			s.attrs.PutStr(l.key, statusCodeStr(sp.status))
		case a.has[l.slot]:
			a.vals[l.slot].CopyTo(s.attrs.PutEmpty(l.key))
		case l.optional:
		default:
			s.attrs.PutStr(l.key, *l.def)
		}
	}
	if m.histogram != nil {
		s.counts = make([]uint64, len(m.histogram)+1)
	}
	return s
}

// newOverflowStream: the stream of a resource that takes a metric's data points past max_streams.
func (u *usage) newOverflowStream(mi int, resKey string, res pcommon.Map, ts pcommon.Timestamp) *stream {
	m := &u.metrics[mi]
	s := &stream{metric: mi, resKey: resKey, res: pcommon.NewMap(), attrs: pcommon.NewMap(), start: ts, overflow: true}
	for _, k := range u.resGroups[m.resGroup] {
		if v, ok := res.Get(k); ok {
			v.CopyTo(s.res.PutEmpty(k))
		}
	}
	s.attrs.PutBool(OverflowKey, true)
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
			if s.hasEx {
				e := dp.Exemplars().AppendEmpty()
				e.SetTimestamp(s.exTs)
				e.SetDoubleValue(s.exValue)
				e.SetTraceID(s.exTrace)
				e.SetSpanID(s.exSpan)
				s.hasEx = false
			}
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
