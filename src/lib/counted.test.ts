import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CountedCounter, CountedGauge, CountedHistogram } from './counted.ts';

describe('counted metrics', () => {
  it("scrape exactly what prom-client's own counter, gauge and histogram give for the same calls", async () => {
    const ours = new Registry();
    const reference = new Registry();
    const byType = { name: 'x_total', help: 'by type', labelNames: ['type'] as const };
    const byTwo = { name: 'y_total', help: 'by type and status', labelNames: ['type', 'status'] as const };
    const open = { name: 'x_open', help: 'open' };
    const buckets = [0.001, 0.01, 0.1];
    const counted = {
      one: new CountedCounter({ ...byType, registers: [ours] }),
      two: new CountedCounter({ ...byTwo, registers: [ours] }),
      gauge: new CountedGauge({ ...open, registers: [ours] }),
      histogram: new CountedHistogram({ name: 'x_seconds', help: 'latency', labelName: 'type', registers: [ours] }, buckets),
    };
    const prom = {
      one: new Counter({ ...byType, labelNames: [...byType.labelNames], registers: [reference] }),
      two: new Counter({ ...byTwo, labelNames: [...byTwo.labelNames], registers: [reference] }),
      gauge: new Gauge({ ...open, registers: [reference] }),
      histogram: new Histogram({ name: 'x_seconds', help: 'latency', labelNames: ['type'], buckets, registers: [reference] }),
    };
    const call = (type: string, status: string, seconds: number) => {
      counted.one.inc({ type });
      counted.two.inc({ type, status });
      counted.gauge.value++;
      counted.histogram.observe(type, seconds);
      prom.one.inc({ type });
      prom.two.inc({ type, status });
      prom.gauge.inc();
      prom.histogram.observe({ type }, seconds);
    };
    // On a bucket bound, between bounds, below the first, above the last.
    for (const [type, status, s] of [['A', 'OK', 0.01], ['A', 'FAIL', 0.002], ['B', 'OK', 0], ['A', 'OK', 7]] as const) call(type, status, s);
    counted.gauge.value--;
    prom.gauge.dec();
    assert.equal(await ours.metrics(), await reference.metrics());
    // Counts are handed over once: a second scrape after more calls still matches.
    call('B', 'OK', 0.05);
    const text = await ours.metrics();
    assert.equal(text, await reference.metrics());
    assert.match(text, /y_total\{type="A",status="OK"\} 2\n/);
    assert.match(text, /x_open 4\n/);
    // JSON as a scrape in JSON would carry it (prom-client's own has some `undefined` members).
    const json = async (r: Registry) => JSON.parse(JSON.stringify(await r.getMetricsAsJSON())) as unknown;
    assert.deepEqual(await json(ours), await json(reference));
  });
});
