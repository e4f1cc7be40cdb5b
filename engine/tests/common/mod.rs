//! A real Kafka-protocol broker (tansu) for one test, on a free loopback port.
#![allow(dead_code)]

pub mod process;
pub mod proxy;
pub mod random;
pub mod reference;
pub mod registry;
pub mod secure_registry;
pub mod wire;

#[allow(unused_imports)]
pub use process::{cached_tool, free_port, wait_until_listening};
#[allow(unused_imports)]
pub use random::Lcg;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;

/// The tutorial's orders `from..to` over seven customers, 20 s apart: (customer, total,
/// event time, the JSON line).
pub fn orders(from: usize, to: usize) -> Vec<(String, f64, i64, String)> {
    (from..to)
        .map(|i| {
            let customer = format!("cust_{}", i % 7);
            let total = (i % 13) as f64 + 0.5;
            let at = 1_709_640_000_000 + i as i64 * 20_000;
            let line = serde_json::json!({"order_id": i, "customer_id": customer, "order_status": "NEW", "order_total": total, "created_at": at}).to_string();
            (customer, total, at, line)
        })
        .collect()
}

pub struct Tansu {
    /// `None` for a handle on a broker another value started.
    child: Option<Child>,
    pub bootstrap: String,
}

impl Tansu {
    pub fn start() -> Tansu {
        let port = free_port();
        Tansu::start_at(port, port)
    }

    /// A broker on `port` that tells its clients to connect to `advertised` (a proxy in
    /// front of it).
    pub fn start_at(port: u16, advertised: u16) -> Tansu {
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised_url = format!("tcp://127.0.0.1:{advertised}");
        let mut child = Command::new(cached_tool("tansu/bin/tansu", "tansu"))
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised_url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts: scripts/test installs it into the cache folder");
        wait_until_listening(&mut child, port, "tansu", Duration::from_secs(30));
        Tansu {
            child: Some(child),
            bootstrap: format!("127.0.0.1:{advertised}"),
        }
    }

    /// A handle on the broker at `bootstrap`, for another thread; dropping it leaves the
    /// broker running.
    pub fn at(bootstrap: &str) -> Tansu {
        Tansu {
            child: None,
            bootstrap: bootstrap.to_string(),
        }
    }

    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        config
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = self.config().create().unwrap();
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let results =
            futures_executor::block_on(admin.create_topics([&topic], &AdminOptions::new()))
                .unwrap();
        for result in results {
            result.unwrap();
        }
    }

    pub fn produce(&self, topic: &str, values: &[String]) {
        let producer: BaseProducer = self.config().create().unwrap();
        for (i, value) in values.iter().enumerate() {
            let key = format!("k{}", i % 5);
            loop {
                match producer.send(BaseRecord::to(topic).key(&key).payload(value)) {
                    Ok(()) => break,
                    Err((_, _)) => {
                        producer.poll(Duration::from_millis(50));
                    }
                }
            }
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// The names of the broker's topics.
    pub fn topic_names(&self) -> Vec<String> {
        let consumer: BaseConsumer = self.config().create().unwrap();
        consumer
            .fetch_metadata(None, Duration::from_secs(10))
            .unwrap()
            .topics()
            .iter()
            .map(|t| t.name().to_string())
            .collect()
    }

    /// Produces (partition, key, value) records, each to its partition (`None`: where the
    /// client's partitioner puts its key).
    pub fn produce_placed(&self, topic: &str, records: &[(Option<i32>, String, String)]) {
        let producer: BaseProducer = self.config().create().unwrap();
        for (partition, key, value) in records {
            loop {
                let mut record = BaseRecord::to(topic).key(key).payload(value);
                if let Some(partition) = partition {
                    record = record.partition(*partition);
                }
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, _)) => {
                        producer.poll(Duration::from_millis(50));
                    }
                }
            }
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// Produces values with the record timestamps given, to partition 0, in order.
    pub fn produce_at(&self, topic: &str, records: &[(i64, String)]) {
        let producer: BaseProducer = self.config().create().unwrap();
        for (timestamp, value) in records {
            loop {
                let record = BaseRecord::<(), String>::to(topic)
                    .payload(value)
                    .partition(0)
                    .timestamp(*timestamp);
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, _)) => {
                        producer.poll(Duration::from_millis(50));
                    }
                }
            }
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// Commits offset 0 on every partition for a group, as if its commits were lost.
    pub fn rewind_group(&self, group: &str, topic: &str, partitions: i32) {
        let consumer: BaseConsumer = self.config().set("group.id", group).create().unwrap();
        let mut offsets = rdkafka::TopicPartitionList::new();
        for partition in 0..partitions {
            offsets
                .add_partition_offset(topic, partition, rdkafka::Offset::Offset(0))
                .unwrap();
        }
        consumer
            .commit(&offsets, rdkafka::consumer::CommitMode::Sync)
            .unwrap();
    }

    /// Every record of a topic: (key bytes, value JSON or null).
    pub fn read_all(&self, topic: &str, expected_at_least: usize) -> Vec<(Vec<u8>, Value)> {
        self.read_raw(topic, expected_at_least)
            .into_iter()
            .map(|(key, value)| {
                let value = value
                    .map(|p| serde_json::from_slice(&p).unwrap())
                    .unwrap_or(Value::Null);
                (key, value)
            })
            .collect()
    }

    /// Every record of a topic as bytes: (key, value, `None` for a tombstone).
    pub fn read_raw(
        &self,
        topic: &str,
        expected_at_least: usize,
    ) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", format!("reader-{}", std::process::id()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        // Subscribe once the topic exists: a subscription to a missing topic waits for the
        // next metadata refresh, minutes away.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(5))
                .map(|m| {
                    m.topics()
                        .iter()
                        .any(|t| t.error().is_none() && !t.partitions().is_empty())
                })
                .unwrap_or(false);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "topic {topic} never appeared");
            std::thread::sleep(Duration::from_millis(200));
        }
        consumer.subscribe(&[topic]).unwrap();
        let mut records = Vec::new();
        // A big topic takes tansu a while to hand over: 3 ms a record expected, 30 s at least.
        let deadline = Instant::now()
            + Duration::from_secs(30).max(Duration::from_millis(3 * expected_at_least as u64));
        let mut quiet_since = Instant::now();
        while Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    quiet_since = Instant::now();
                    records.push((
                        message.key().unwrap_or_default().to_vec(),
                        message.payload().map(<[u8]>::to_vec),
                    ));
                }
                // The engine may not have created the topic yet.
                Some(Err(e)) if e.to_string().contains("UnknownTopicOrPartition") => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Some(Err(e)) => panic!("reading {topic}: {e}"),
                None if records.len() >= expected_at_least
                    && quiet_since.elapsed() > Duration::from_secs(2) =>
                {
                    break
                }
                None => {}
            }
        }
        records
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
