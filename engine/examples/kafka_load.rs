//! Benchmark helper for scripts/bench: produces order events to a topic, or reads a topic
//! to the end with a plain rdkafka consumer and reports its rate (the baseline the engine
//! is compared with).
//!
//!   kafka_load produce BOOTSTRAP TOPIC COUNT [SCHEMA_REGISTRY_URL]
//!   kafka_load consume BOOTSTRAP TOPIC COUNT
//!
//! With a Schema Registry the events are Avro in Confluent's wire format, with the schema
//! an application would register (its own record name, fields not nullable).

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, bootstrap, topic, count, registry @ ..] = args.as_slice() else {
        anyhow::bail!(
            "usage: kafka_load produce|consume BOOTSTRAP TOPIC COUNT [SCHEMA_REGISTRY_URL]"
        );
    };
    let avro = registry
        .first()
        .map(|url| avro_writer(url, topic))
        .transpose()?;
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
                let value = match &avro {
                    Some((schema, id)) => avro_order(schema, *id, i)?,
                    None => format!(
                        "{{\"order_id\":{i},\"customer_id\":\"{}\",\"order_status\":\"NEW\",\"order_total\":{}.{:02},\"created_at\":{}}}",
                        customer(i),
                        i % 997,
                        i % 100,
                        base + i * 2
                    )
                    .into_bytes(),
                };
                // Keyed by the customer, so a stream that declares it its key groups by
                // the message key.
                let key = customer(i);
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

/// The customer of order `i`: 100,000 of them, spread over the orders.
fn customer(i: u64) -> String {
    format!("cust_{}", (i * 7919) % 100_000)
}

const ORDER_SCHEMA: &str = r#"{"type":"record","name":"OrderEvent","namespace":"shop","fields":[
  {"name":"order_id","type":"long"},{"name":"customer_id","type":"string"},
  {"name":"order_status","type":"string"},{"name":"order_total","type":"double"},
  {"name":"created_at","type":"long"}]}"#;

/// The order schema, registered under the topic's value subject, and its id.
fn avro_writer(url: &str, topic: &str) -> anyhow::Result<(apache_avro::Schema, u32)> {
    use advisor_engine::connector::schema_registry::{Backoff, HttpRegistry, RegistryConfig};
    use advisor_engine::format::SchemaRegistry;
    let registry = HttpRegistry::new(
        &RegistryConfig {
            url: url.to_string(),
            ..RegistryConfig::default()
        },
        Backoff::default(),
    )?;
    let id = registry.register(&format!("{topic}-value"), ORDER_SCHEMA)?;
    Ok((apache_avro::Schema::parse_str(ORDER_SCHEMA)?, id))
}

/// One order event as Confluent-framed Avro.
fn avro_order(schema: &apache_avro::Schema, id: u32, i: u64) -> anyhow::Result<Vec<u8>> {
    use apache_avro::types::Value;
    let record = Value::Record(vec![
        ("order_id".into(), Value::Long(i as i64)),
        ("customer_id".into(), Value::String(customer(i))),
        ("order_status".into(), Value::String("NEW".into())),
        (
            "order_total".into(),
            Value::Double((i % 997) as f64 + (i % 100) as f64 / 100.0),
        ),
        (
            "created_at".into(),
            Value::Long(1_709_640_000_000 + i as i64 * 2),
        ),
    ]);
    let mut framed = vec![0];
    framed.extend_from_slice(&id.to_be_bytes());
    framed.extend(
        apache_avro::writer::datum::GenericDatumWriter::builder(schema)
            .build()?
            .write_value_to_vec(record)?,
    );
    Ok(framed)
}
