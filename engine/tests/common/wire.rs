//! Producing records with exactly the timestamps given, over the Kafka protocol itself.
//!
//! librdkafka replaces a record timestamp of 0 with the current time, and ksqlDB's tests
//! (QTT) are full of records at time 0; this writes one Produce request (version 3, one
//! record batch of magic 2 with CreateTime timestamps) per topic-partition to a single
//! broker, so every timestamp, key and value arrives as given.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A record to produce: key and value bytes (`None` is null), timestamp in milliseconds.
pub struct WireRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp: i64,
}

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn varint(out: &mut Vec<u8>, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    loop {
        let byte = (zigzag & 0x7f) as u8;
        zigzag >>= 7;
        if zigzag == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn bytes_field(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => varint(out, -1),
        Some(b) => {
            varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// A record batch (magic 2) holding `records` in order.
fn record_batch(records: &[WireRecord]) -> Vec<u8> {
    let base_timestamp = records.first().map_or(0, |r| r.timestamp);
    let max_timestamp = records.iter().map(|r| r.timestamp).max().unwrap_or(0);
    let mut body = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let mut r = Vec::new();
        r.push(0); // attributes
        varint(&mut r, record.timestamp - base_timestamp);
        varint(&mut r, i as i64);
        bytes_field(&mut r, record.key.as_deref());
        bytes_field(&mut r, record.value.as_deref());
        varint(&mut r, 0); // headers
        varint(&mut body, r.len() as i64);
        body.extend(r);
    }
    // From the attributes to the end: what the CRC covers.
    let mut tail = Vec::new();
    tail.extend(0i16.to_be_bytes()); // attributes: no compression, CreateTime
    tail.extend((records.len() as i32 - 1).to_be_bytes()); // last offset delta
    tail.extend(base_timestamp.to_be_bytes());
    tail.extend(max_timestamp.to_be_bytes());
    tail.extend((-1i64).to_be_bytes()); // producer id
    tail.extend((-1i16).to_be_bytes()); // producer epoch
    tail.extend((-1i32).to_be_bytes()); // base sequence
    tail.extend((records.len() as i32).to_be_bytes());
    tail.extend(body);
    let mut batch = Vec::new();
    batch.extend(0i64.to_be_bytes()); // base offset
    let length = 4 + 1 + 4 + tail.len(); // leader epoch, magic, crc, rest
    batch.extend((length as i32).to_be_bytes());
    batch.extend((-1i32).to_be_bytes()); // partition leader epoch
    batch.push(2); // magic
    batch.extend(crc32c(&tail).to_be_bytes());
    batch.extend(tail);
    batch
}

fn string16(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as i16).to_be_bytes());
    out.extend(s.as_bytes());
}

/// Produces `records` to one partition of `topic` on the broker at `address` (which must
/// lead it: a single broker does) and waits for its acknowledgement.
pub fn produce(address: &str, topic: &str, partition: i32, records: &[WireRecord]) {
    if records.is_empty() {
        return;
    }
    let batch = record_batch(records);
    let mut request = Vec::new();
    request.extend(0i16.to_be_bytes()); // Produce
    request.extend(3i16.to_be_bytes()); // version 3
    request.extend(1i32.to_be_bytes()); // correlation id
    string16(&mut request, "wire-producer");
    request.extend((-1i16).to_be_bytes()); // no transactional id
    request.extend((-1i16).to_be_bytes()); // acks: all
    request.extend(30_000i32.to_be_bytes());
    request.extend(1i32.to_be_bytes()); // one topic
    string16(&mut request, topic);
    request.extend(1i32.to_be_bytes()); // one partition
    request.extend(partition.to_be_bytes());
    request.extend((batch.len() as i32).to_be_bytes());
    request.extend(batch);

    let mut stream = TcpStream::connect(address).expect("the broker accepts a connection");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    let mut framed = (request.len() as i32).to_be_bytes().to_vec();
    framed.extend(request);
    stream
        .write_all(&framed)
        .expect("the Produce request is sent");
    let mut size = [0u8; 4];
    stream
        .read_exact(&mut size)
        .expect("the broker answers the Produce request");
    let mut response = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
    stream.read_exact(&mut response).expect("the whole answer");
    // correlation id, topics (1), name, partitions (1), partition, error code.
    let name_len = i16::from_be_bytes([response[8], response[9]]).max(0) as usize;
    let at = 10 + name_len + 4 + 4;
    let error = i16::from_be_bytes([response[at], response[at + 1]]);
    assert_eq!(error, 0, "producing to {topic}: Kafka error code {error}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32c_of_the_standard_check_string() {
        assert_eq!(super::crc32c(b"123456789"), 0xE306_9283);
    }
}
