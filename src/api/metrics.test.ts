import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { LATENCY_BUCKETS } from '../lib/index.ts';
import { ApiMetrics } from './metrics.ts';

describe('ApiMetrics', () => {
  it("scrapes exactly what prom-client's own counter and histogram give for the same requests", async () => {
    const ours = new Registry();
    const metrics = new ApiMetrics(ours);
    const reference = new Registry();
    const counter = new Counter({ name: 'pharos_api_requests_total', help: 'API requests by operation (X-Amz-Target) and result code (OK or the error __type).', labelNames: ['operation', 'code'], registers: [reference] });
    const histogram = new Histogram({
      name: 'pharos_api_request_duration_seconds',
      help: 'API request latency from the last body byte to the response being written, by operation.',
      labelNames: ['operation'],
      buckets: LATENCY_BUCKETS,
      registers: [reference],
    });
    const record = (operation: string, code: string, seconds: number) => {
      metrics.record(operation, code, seconds);
      counter.inc({ operation, code });
      histogram.observe({ operation }, seconds);
    };
    // On a bucket bound, between bounds, below the first, above the last.
    for (const [op, code, s] of [['Echo', 'OK', 0.0001], ['Echo', 'OK', 0.00007], ['Echo', 'OK', 0], ['Echo', 'OK', 9], ['Exists', 'ServiceAlreadyExists', 0.007]] as const) record(op, code, s);
    assert.equal(await ours.metrics(), await reference.metrics());
    // A second scrape after more requests: counts are handed over once, not twice.
    record('Echo', 'OK', 0.001);
    record('unknown', 'UnknownOperationException', 0.00002);
    const text = await ours.metrics();
    assert.equal(text, await reference.metrics());
    assert.match(text, /pharos_api_requests_total\{operation="Echo",code="OK"\} 5\n/);
    assert.match(text, /pharos_api_request_duration_seconds_count\{operation="Echo"\} 5\n/);
  });
});
