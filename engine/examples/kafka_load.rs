//! Benchmark helper for scripts/bench: produces order events to a topic, or reads a topic
//! to the end with a plain rdkafka consumer and reports its rate (the baseline the engine
//! is compared with).
//!
//!   kafka_load produce BOOTSTRAP TOPIC COUNT
//!   kafka_load consume BOOTSTRAP TOPIC COUNT

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, bootstrap, topic, count] = args.as_slice() else {
        anyhow::bail!("usage: kafka_load produce|consume BOOTSTRAP TOPIC COUNT");
    };
    let count: u64 = count.parse()?;
    match mode.as_str() {
        "produce" => {
            let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
                ClientConfig::new()
                    .set("bootstrap.servers", bootstrap)
                    .create()?;
            let new_topic =
                rdkafka::admin::NewTopic::new(topic, 1, rdkafka::admin::TopicReplication::Fixed(1));
            for result in futures_executor::block_on(
                admin.create_topics([&new_topic], &rdkafka::admin::AdminOptions::new()),
            )? {
                if let Err((name, code)) = result {
                    if code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                        anyhow::bail!("cannot create {name}: {code}");
                    }
                }
            }
            let producer: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", bootstrap)
                .set("linger.ms", "20")
                .set("batch.num.messages", "10000")
                .create()?;
            let base = 1_709_640_000_000u64;
            for i in 0..count {
                let value = format!(
                    "{{\"order_id\":{i},\"customer_id\":\"cust_{}\",\"order_status\":\"NEW\",\"order_total\":{}.{:02},\"created_at\":{}}}",
                    (i * 7919) % 100_000,
                    i % 997,
                    i % 100,
                    base + i * 2
                );
                let key = format!("{}", i % 64);
                let mut record = BaseRecord::to(topic).key(&key).payload(&value);
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((_, returned)) => {
                            producer.poll(Duration::from_millis(10));
                            record = returned;
                        }
                    }
                }
            }
            producer.flush(Duration::from_secs(120))?;
        }
        "consume" => {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", bootstrap)
                .set("group.id", format!("baseline-{}", std::process::id()))
                .set("auto.offset.reset", "earliest")
                .set("enable.auto.commit", "false")
                .create()?;
            consumer.subscribe(&[topic])?;
            let mut seen = 0u64;
            let mut bytes = 0usize;
            let mut started = None;
            let mut idle_since = Instant::now();
            while seen < count {
                if let Some(message) = consumer.poll(Duration::from_millis(200)) {
                    let message = message?;
                    started.get_or_insert_with(Instant::now);
                    bytes += rdkafka::message::Message::payload(&message).map_or(0, <[u8]>::len);
                    seen += 1;
                    idle_since = Instant::now();
                } else if idle_since.elapsed() > Duration::from_secs(60) {
                    anyhow::bail!("the topic ran dry after {seen} of {count} records");
                }
            }
            let seconds = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
            println!("{seen} {seconds:.3} {bytes}");
        }
        other => anyhow::bail!("unknown mode {other}"),
    }
    Ok(())
}
