//! Benchmark helper for scripts/bench: event-to-output latency through Kafka. Produces
//! events at a fixed rate, each carrying the wall-clock time it was handed to the producer
//! (`sent_us`), while a consumer in the same process reads the outputs of the queries under
//! test from the end of their topics; an output's latency is the time it was read minus the
//! `SENT_US` it carries (a stream row copies it, a table row carries the newest of its key,
//! which with the record cache off is the event that caused the update).
//!
//!   latency_load BOOTSTRAP TOPIC RATE SECONDS OUTPUT_TOPIC...
//!
//! Prints one JSON object: per output topic the number of outputs, p50, p99 and max in
//! milliseconds and a histogram on a logarithmic scale. Events of the first second are
//! warm-up (connections, first fetches) and not counted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const CUSTOMERS: u64 = 1_000;
const WARM_UP: Duration = Duration::from_secs(1);
/// Histogram buckets: four per doubling, from 50 µs up.
const FIRST_BUCKET_US: f64 = 50.0;
const BUCKETS_PER_DOUBLING: f64 = 4.0;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bootstrap, topic, rate, seconds, outputs @ ..] = args.as_slice() else {
        anyhow::bail!("usage: latency_load BOOTSTRAP TOPIC RATE SECONDS OUTPUT_TOPIC...");
    };
    anyhow::ensure!(!outputs.is_empty(), "name at least one output topic");
    let rate: u64 = rate.parse()?;
    let seconds: u64 = seconds.parse()?;
    anyhow::ensure!(
        rate > 0 && seconds > 1,
        "the rate and the seconds must be positive"
    );

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("latency-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        // The reader is the measuring stick: it must not wait for fuller fetches.
        .set("fetch.wait.max.ms", "5")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for output in outputs {
        let metadata = consumer.fetch_metadata(Some(output), Duration::from_secs(10))?;
        let partitions = metadata
            .topics()
            .first()
            .map_or(0, |t| t.partitions().len());
        anyhow::ensure!(partitions > 0, "the output topic {output} does not exist");
        for partition in 0..partitions as i32 {
            assignment.add_partition_offset(output, partition, Offset::End)?;
        }
    }
    consumer.assign(&assignment)?;

    let producing = Arc::new(AtomicBool::new(true));
    // The send time of the first event counted; until it is sent, nothing counts.
    let counted_from_us = Arc::new(AtomicU64::new(u64::MAX));
    let warm_up_events = WARM_UP.as_secs() * rate;
    let expected = (seconds - WARM_UP.as_secs()) * rate;
    let reader = {
        let producing = producing.clone();
        let counted_from_us = counted_from_us.clone();
        let outputs = outputs.to_vec();
        std::thread::spawn(move || {
            read_latencies(consumer, &outputs, &counted_from_us, expected, &producing)
        })
    };

    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "1")
        .create()?;
    let start = Instant::now();
    let total = rate * seconds;
    let mut last_sent_us = 0;
    for i in 0..total {
        // Paced to the schedule, not to the previous send, so a stall is caught up.
        let due = Duration::from_secs_f64(i as f64 / rate as f64);
        if let Some(ahead) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(ahead);
        }
        // Strictly increasing, so the first counted event's time excludes every one before it.
        let sent_us = now_us().max(last_sent_us + 1);
        last_sent_us = sent_us;
        if i == warm_up_events {
            counted_from_us.store(sent_us, Ordering::SeqCst);
        }
        let value = format!(
            "{{\"id\":{i},\"customer_id\":\"cust_{}\",\"amount\":{}.{:02},\"sent_us\":{sent_us}}}",
            (i * 7919) % CUSTOMERS,
            i % 997,
            i % 100,
        );
        let key = format!("cust_{}", (i * 7919) % CUSTOMERS);
        let mut record = BaseRecord::to(topic).key(&key).payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    producer.poll(Duration::from_millis(1));
                    record = returned;
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60))?;
    let produced_seconds = start.elapsed().as_secs_f64();
    producing.store(false, Ordering::SeqCst);
    let latencies = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))??;

    let mut report = serde_json::Map::new();
    report.insert("rate".into(), rate.into());
    report.insert("seconds".into(), seconds.into());
    report.insert("produced".into(), total.into());
    report.insert("produced_seconds".into(), produced_seconds.into());
    report.insert("counted_events".into(), expected.into());
    let mut per_output = serde_json::Map::new();
    for (output, mut samples) in latencies {
        per_output.insert(output, summary(&mut samples));
    }
    report.insert("outputs".into(), per_output.into());
    println!("{}", serde_json::Value::Object(report));
    Ok(())
}

/// Reads the outputs until each topic has `expected` counted ones, or ten seconds pass
/// without one after the producer is done.
fn read_latencies(
    consumer: BaseConsumer,
    outputs: &[String],
    counted_from_us: &AtomicU64,
    expected: u64,
    producing: &AtomicBool,
) -> anyhow::Result<BTreeMap<String, Vec<u64>>> {
    let mut latencies: BTreeMap<String, Vec<u64>> =
        outputs.iter().map(|o| (o.clone(), Vec::new())).collect();
    let mut last_seen = Instant::now();
    loop {
        let complete = latencies.values().all(|l| l.len() as u64 >= expected);
        if complete
            || (!producing.load(Ordering::SeqCst) && last_seen.elapsed() > Duration::from_secs(10))
        {
            return Ok(latencies);
        }
        let Some(message) = consumer.poll(Duration::from_millis(50)) else {
            continue;
        };
        let message = message?;
        let read_us = now_us();
        last_seen = Instant::now();
        let Some(payload) = message.payload() else {
            continue;
        };
        let value: serde_json::Value = serde_json::from_slice(payload)?;
        let sent_us = value
            .get("SENT_US")
            // The input topic itself, read as an output, measures the broker alone.
            .or_else(|| value.get("sent_us"))
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| anyhow::anyhow!("an output without SENT_US: {value}"))?;
        if sent_us < counted_from_us.load(Ordering::SeqCst) {
            continue;
        }
        if let Some(samples) = latencies.get_mut(message.topic()) {
            samples.push(read_us.saturating_sub(sent_us));
        }
    }
}

fn summary(samples: &mut [u64]) -> serde_json::Value {
    samples.sort_unstable();
    let at = |q: f64| -> f64 {
        if samples.is_empty() {
            return f64::NAN;
        }
        let index = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index] as f64 / 1000.0
    };
    let mut histogram: BTreeMap<u32, u64> = BTreeMap::new();
    for &us in samples.iter() {
        let bucket =
            ((us as f64).max(FIRST_BUCKET_US) / FIRST_BUCKET_US).log2() * BUCKETS_PER_DOUBLING;
        *histogram.entry(bucket.floor() as u32).or_default() += 1;
    }
    let histogram: Vec<serde_json::Value> = histogram
        .into_iter()
        .map(|(bucket, count)| {
            let upper_ms =
                FIRST_BUCKET_US * 2f64.powf((bucket + 1) as f64 / BUCKETS_PER_DOUBLING) / 1000.0;
            serde_json::json!([upper_ms, count])
        })
        .collect();
    serde_json::json!({
        "count": samples.len(),
        "p50_ms": at(0.50),
        "p99_ms": at(0.99),
        "max_ms": at(1.0),
        "histogram": histogram,
    })
}
