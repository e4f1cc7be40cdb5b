//! Queries over local files: JSON lines in, JSON lines out, so the engine runs on a laptop
//! with no broker and over backfills.
//!
//! An input is `file:PATH` (each line a record value) or `records:PATH` (each line an
//! envelope `{"key": ..., "value": {...}, "timestamp": ms, "partition": n}`). Each output line is
//! `{"key": ..., "window": {"start": ms, "end": ms}, "value": {...} | null, "timestamp": ms}`.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use std::time::Duration;

use serde_json::Value as Json;

use crate::engine::Engine;
use crate::format::JsonBuf;
use crate::query::{DeadLetter, InputRecord, OutputRecord, Outputs, PersistentQuery};
use crate::runtime::{
    DriveOptions, Driver, OutputSink, Polled, Process, RunSummary, RuntimeError, Source,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Values,
    Records,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub kind: InputKind,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("{0:?} is not NAME=file:PATH or NAME=records:PATH")]
    Spec(String),
    #[error("{what} names {name}, which is not a stream or table of the SQL file")]
    UnknownName { what: &'static str, name: String },
    #[error("no --input for {0}, which a query reads; add --input {0}=file:PATH")]
    MissingInput(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl std::str::FromStr for Endpoint {
    type Err = FilesError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (name, target) = spec
            .split_once('=')
            .ok_or_else(|| FilesError::Spec(spec.into()))?;
        let (kind, path) = if let Some(path) = target.strip_prefix("file:") {
            (InputKind::Values, path)
        } else if let Some(path) = target.strip_prefix("records:") {
            (InputKind::Records, path)
        } else {
            return Err(FilesError::Spec(spec.into()));
        };
        if name.is_empty() || path.is_empty() {
            return Err(FilesError::Spec(spec.into()));
        }
        Ok(Endpoint {
            name: name.to_string(),
            kind,
            path: PathBuf::from(path),
        })
    }
}

/// Where output lines go: a file per sink, or stdout tagged with the sink's name.
enum Sink {
    /// Lines are written straight into `buffer`, which goes to the file when it fills.
    File {
        file: File,
        buffer: JsonBuf,
        path: String,
    },
    Stdout,
}

const SINK_BUFFER_BYTES: usize = 256 * 1024;

impl Sink {
    fn flush(&mut self) -> Result<(), FilesError> {
        if let Sink::File { file, buffer, path } = self {
            file.write_all(buffer.as_bytes())
                .map_err(|source| FilesError::Write {
                    path: path.clone(),
                    source,
                })?;
            buffer.clear();
        }
        Ok(())
    }
}

/// Lines of a file read in large blocks and handed out without a copy each. The newlines
/// of each block are found in one pass rather than by a search per line.
struct LineReader {
    file: File,
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    at_end: bool,
    /// Positions in `buffer` of the newlines between `start` and `end`, in order, and the
    /// next one to hand out.
    newlines: Vec<usize>,
    next_newline: usize,
}

impl LineReader {
    fn new(file: File) -> LineReader {
        // Blocks small enough to stay in the core's cache between the read that fills them
        // and the decoding that follows.
        LineReader::with_block(file, 1 << 17)
    }

    fn with_block(file: File, block: usize) -> LineReader {
        LineReader {
            file,
            buffer: vec![0; block.max(1)],
            start: 0,
            end: 0,
            at_end: false,
            newlines: Vec::new(),
            next_newline: 0,
        }
    }

    /// Finds up to `max` next lines (without their newlines; the last line may lack one)
    /// as ranges of `bytes()`, valid until the next call. False at the end of the file.
    fn next_lines(&mut self, max: usize, lines: &mut Vec<Range<usize>>) -> std::io::Result<bool> {
        lines.clear();
        while self.next_newline == self.newlines.len() && !self.at_end {
            self.read_more()?;
        }
        while lines.len() < max {
            match self.newlines.get(self.next_newline) {
                Some(&at) => {
                    self.next_newline += 1;
                    lines.push(self.start..at);
                    self.start = at + 1;
                }
                None => {
                    if self.at_end && self.start < self.end {
                        lines.push(self.start..self.end);
                        self.start = self.end;
                    }
                    break;
                }
            }
        }
        Ok(!lines.is_empty())
    }

    fn bytes(&self) -> &[u8] {
        &self.buffer
    }

    /// Keeps the partial line, makes room (a line longer than the buffer grows it), reads
    /// on and finds the new newlines.
    fn read_more(&mut self) -> std::io::Result<()> {
        self.buffer.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.end == self.buffer.len() {
            self.buffer.resize(self.buffer.len() * 2, 0);
        }
        let scanned = self.end;
        match self.file.read(&mut self.buffer[self.end..]) {
            Ok(0) => self.at_end = true,
            Ok(read) => self.end += read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        self.newlines.clear();
        self.next_newline = 0;
        find_newlines(&self.buffer[scanned..self.end], scanned, &mut self.newlines);
        Ok(())
    }
}

/// Appends the positions (plus `base`) of the newlines in `bytes`, found with vector
/// compares a block at a time.
fn find_newlines(bytes: &[u8], base: usize, out: &mut Vec<usize>) {
    out.extend(memchr::memchr_iter(b'\n', bytes).map(|at| base + at));
}

/// Lines handed to the queries at a time: enough to decode ahead and prefetch state.
const BATCH_LINES: usize = 256;

/// A line's record parts that an envelope (`records:` inputs) carries.
struct Envelope {
    /// The line's place in its batch.
    line: usize,
    partition: u32,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

impl Envelope {
    fn read(line: usize, text: &[u8]) -> Envelope {
        let bytes_of = |part: Option<&Json>| match part {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s.as_bytes().to_vec()),
            Some(other) => Some(other.to_string().into_bytes()),
        };
        match serde_json::from_slice::<Json>(text) {
            Ok(Json::Object(record)) => Envelope {
                line,
                partition: record.get("partition").and_then(Json::as_u64).unwrap_or(0) as u32,
                timestamp: record
                    .get("timestamp")
                    .and_then(Json::as_i64)
                    .unwrap_or_else(now_millis),
                key: bytes_of(record.get("key")),
                value: bytes_of(record.get("value")),
            },
            // A broken envelope still reaches the queries, which dead-letter it.
            _ => Envelope {
                line,
                partition: 0,
                timestamp: now_millis(),
                key: None,
                value: Some(text.to_vec()),
            },
        }
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Writes output lines straight into a buffer: on the hot path no JSON tree is built. The
/// text of the last window is kept, as consecutive outputs mostly share their window.
struct LineWriter {
    window: Option<(i64, i64)>,
    /// `,"window":{...}` for `window`, padded to be copied whole.
    window_text: [u8; WINDOW_TEXT],
    window_len: usize,
    scratch: JsonBuf,
}

/// Room for `,"window":{"start":S,"end":E}` with any two integers.
const WINDOW_TEXT: usize = 80;

impl Default for LineWriter {
    fn default() -> LineWriter {
        LineWriter {
            window: None,
            window_text: [0; WINDOW_TEXT],
            window_len: 0,
            scratch: JsonBuf::default(),
        }
    }
}

impl LineWriter {
    fn write(&mut self, out: &mut JsonBuf, query: &PersistentQuery, record: &OutputRecord) {
        out.extend(b"{\"key\":");
        match record.key.as_slice() {
            [] => out.extend(b"null"),
            [single] => out.value(single),
            many => query.json_keys.write_object(out, many),
        }
        if let Some((start, end)) = record.window {
            if self.window != record.window {
                self.window = record.window;
                let text = &mut self.scratch;
                text.clear();
                text.extend(b",\"window\":{\"start\":");
                text.integer(start);
                text.extend(b",\"end\":");
                text.integer(end);
                text.push(b'}');
                self.window_len = text.len();
                self.window_text[..text.len()].copy_from_slice(text.as_bytes());
            }
            out.padded(&self.window_text, self.window_len);
        }
        out.extend(b",\"value\":");
        match &record.value {
            Some(values) => query.json_values.write_object(out, values),
            None => out.extend(b"null"),
        }
        out.extend(b",\"timestamp\":");
        out.integer(record.timestamp);
        out.push(b'}');
    }
}

/// The inputs of a run over files, read one after the other in blocks of lines: each line
/// a record of its source's topic, at the line's number as offset.
pub struct FileSource {
    inputs: Vec<OpenInput>,
    current: usize,
    lines: Vec<Range<usize>>,
    envelopes: Vec<Envelope>,
    /// With more than one input, each input's records read ahead: they are handed over
    /// in timestamp order across inputs, as Kafka Streams picks the record with the lowest
    /// timestamp among a task's partitions, so a join sees the table as it stood when each
    /// stream record happened. Ties go to the input named first.
    pending: Vec<VecDeque<OwnedRecord>>,
}

/// A record read ahead of its turn.
struct OwnedRecord {
    partition: u32,
    offset: u64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

struct OpenInput {
    endpoint: Endpoint,
    topic: String,
    reader: LineReader,
    offset: u64,
}

impl FileSource {
    /// Opens an input for each source a query reads; every such source needs one.
    pub fn open(engine: &Engine, inputs: &[Endpoint]) -> Result<FileSource, FilesError> {
        // In the order given: it breaks timestamp ties between inputs.
        let mut by_source: Vec<(String, &Endpoint)> = Vec::new();
        for input in inputs {
            let source = engine
                .source_for(&input.name)
                .ok_or_else(|| FilesError::UnknownName {
                    what: "--input",
                    name: input.name.clone(),
                })?;
            by_source.retain(|(name, _)| name != &source.name);
            by_source.push((source.name.clone(), input));
        }
        for input in engine.queries.iter().flat_map(|q| &q.inputs) {
            if !by_source.iter().any(|(name, _)| name == &input.source) {
                return Err(FilesError::MissingInput(input.source.clone()));
            }
        }
        let mut opened = Vec::new();
        for (source, endpoint) in by_source {
            let file = File::open(&endpoint.path).map_err(|e| FilesError::Read {
                path: endpoint.path.display().to_string(),
                source: e,
            })?;
            let topic = engine
                .sources
                .get(&source)
                .map(|s| s.topic.clone())
                .unwrap_or(source);
            opened.push(OpenInput {
                endpoint: endpoint.clone(),
                topic,
                reader: LineReader::new(file),
                offset: 0,
            });
        }
        let pending = opened.iter().map(|_| VecDeque::new()).collect();
        Ok(FileSource {
            inputs: opened,
            current: 0,
            lines: Vec::with_capacity(BATCH_LINES),
            envelopes: Vec::with_capacity(BATCH_LINES),
            pending,
        })
    }

    /// Reads ahead until input `at` has pending records; false once it has none left.
    fn read_ahead(&mut self, at: usize) -> Result<bool, RuntimeError> {
        let FileSource {
            inputs,
            lines,
            envelopes,
            pending,
            ..
        } = self;
        let queue = &mut pending[at];
        while queue.is_empty() {
            let more = next_block(&mut inputs[at], lines, envelopes, &mut |records| {
                queue.extend(records.iter().map(|r| OwnedRecord {
                    partition: r.partition,
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key.map(<[u8]>::to_vec),
                    value: r.value.map(<[u8]>::to_vec),
                }));
                Ok(())
            })?;
            if !more {
                return Ok(!queue.is_empty());
            }
        }
        Ok(true)
    }

    /// The next run of records across inputs in timestamp order.
    fn next_merged(
        &mut self,
        process: &mut dyn FnMut(&[InputRecord<'_>]) -> Result<(), RuntimeError>,
    ) -> Result<Polled, RuntimeError> {
        for at in 0..self.inputs.len() {
            self.read_ahead(at)?;
        }
        let head = |queue: &VecDeque<OwnedRecord>| queue.front().map(|r| r.timestamp);
        let Some(first) = (0..self.inputs.len())
            .filter(|&at| !self.pending[at].is_empty())
            .min_by_key(|&at| (head(&self.pending[at]), at))
        else {
            return Ok(Polled::Ended);
        };
        // The first input's records go until another input's head comes before them.
        let bound = (0..self.inputs.len())
            .filter(|&at| at != first)
            .filter_map(|at| head(&self.pending[at]).map(|time| (time, at)))
            .min();
        let queue = &self.pending[first];
        let mut count = 0;
        while count < queue.len() && count < BATCH_LINES {
            let record = &queue[count];
            if bound.is_some_and(|bound| (record.timestamp, first) > bound) {
                break;
            }
            count += 1;
        }
        let topic = &self.inputs[first].topic;
        let records: Vec<InputRecord<'_>> = queue
            .iter()
            .take(count)
            .map(|r| InputRecord {
                topic,
                partition: r.partition,
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key.as_deref(),
                value: r.value.as_deref(),
            })
            .collect();
        process(&records)?;
        self.pending[first].drain(..count);
        Ok(Polled::Records(count))
    }
}

/// Reads the next block of lines of `input` and hands its records to `process`; false at
/// the end of the input.
fn next_block(
    input: &mut OpenInput,
    lines: &mut Vec<Range<usize>>,
    envelopes: &mut Vec<Envelope>,
    process: &mut dyn FnMut(&[InputRecord<'_>]) -> Result<(), RuntimeError>,
) -> Result<bool, RuntimeError> {
    let more = input
        .reader
        .next_lines(BATCH_LINES, lines)
        .map_err(|source| FilesError::Read {
            path: input.endpoint.path.display().to_string(),
            source,
        })?;
    if !more {
        return Ok(false);
    }
    // Values without an envelope are stamped with the time they are read.
    let arrival = now_millis();
    let bytes = input.reader.bytes();
    let base = input.offset;
    envelopes.clear();
    let mut records: Vec<InputRecord<'_>> = Vec::with_capacity(lines.len());
    // Blank lines are skipped, keeping their offsets.
    for (at, range) in lines.iter().enumerate() {
        let text = trim(&bytes[range.clone()]);
        if text.is_empty() {
            continue;
        }
        match input.endpoint.kind {
            InputKind::Values => records.push(InputRecord {
                topic: &input.topic,
                partition: 0,
                offset: base + at as u64,
                timestamp: arrival,
                key: None,
                value: Some(text),
            }),
            InputKind::Records => envelopes.push(Envelope::read(at, text)),
        }
    }
    records.extend(envelopes.iter().map(|envelope| InputRecord {
        topic: &input.topic,
        partition: envelope.partition,
        offset: base + envelope.line as u64,
        timestamp: envelope.timestamp,
        key: envelope.key.as_deref(),
        value: envelope.value.as_deref(),
    }));
    input.offset += lines.len() as u64;
    process(&records)?;
    Ok(true)
}

impl Source for FileSource {
    fn next_batch(
        &mut self,
        _wait: Duration,
        process: &mut Process<'_>,
    ) -> Result<Polled, RuntimeError> {
        // Files are read whole by one instance: no partition ever moves.
        let mut records_only = |records: &[InputRecord<'_>]| process(Vec::new(), records);
        if self.inputs.len() > 1 {
            return self.next_merged(&mut records_only);
        }
        loop {
            let Some(input) = self.inputs.get_mut(self.current) else {
                return Ok(Polled::Ended);
            };
            let mut count = 0;
            let more = next_block(
                input,
                &mut self.lines,
                &mut self.envelopes,
                &mut |records| {
                    count = records.len();
                    records_only(records)
                },
            )?;
            if !more {
                self.current += 1;
                continue;
            }
            return Ok(Polled::Records(count));
        }
    }
}

/// Where a run over files writes: a file per sink named by --output (stdout for the rest,
/// each line tagged with its sink) and the dead letters to their file or stderr.
pub struct FileSink {
    sinks: BTreeMap<String, Sink>,
    dead: Box<dyn Write + Send>,
    /// The dead letter being written, its buffer kept between records.
    letter: Vec<u8>,
    line: JsonBuf,
    writer: LineWriter,
}

impl FileSink {
    pub fn create(
        engine: &Engine,
        outputs: &[Endpoint],
        dead_letters: Option<&Path>,
    ) -> Result<FileSink, FilesError> {
        let mut sinks = BTreeMap::new();
        for query in &engine.queries {
            let target = outputs.iter().find(|o| {
                o.name.eq_ignore_ascii_case(&query.sink.name) || o.name == query.sink.topic
            });
            let sink = match target {
                Some(endpoint) => {
                    let file =
                        File::create(&endpoint.path).map_err(|source| FilesError::Write {
                            path: endpoint.path.display().to_string(),
                            source,
                        })?;
                    Sink::File {
                        file,
                        buffer: JsonBuf::with_room(SINK_BUFFER_BYTES + 4096),
                        path: endpoint.path.display().to_string(),
                    }
                }
                None => Sink::Stdout,
            };
            sinks.insert(query.id.clone(), sink);
        }
        for output in outputs {
            if !engine.queries.iter().any(|q| {
                output.name.eq_ignore_ascii_case(&q.sink.name) || output.name == q.sink.topic
            }) {
                return Err(FilesError::UnknownName {
                    what: "--output",
                    name: output.name.clone(),
                });
            }
        }
        let dead: Box<dyn Write + Send> = match dead_letters {
            Some(path) => Box::new(BufWriter::new(File::create(path).map_err(|source| {
                FilesError::Write {
                    path: path.display().to_string(),
                    source,
                }
            })?)),
            None => Box::new(std::io::stderr()),
        };
        Ok(FileSink {
            sinks,
            dead,
            letter: Vec::new(),
            line: JsonBuf::with_room(4096),
            writer: LineWriter::default(),
        })
    }
}

impl OutputSink for FileSink {
    fn write(
        &mut self,
        engine: &Engine,
        query: usize,
        outputs: &Outputs,
        dead: &[DeadLetter],
    ) -> Result<(), RuntimeError> {
        let query = &engine.queries[query];
        if let Some(sink) = self.sinks.get_mut(&query.id) {
            for output in outputs {
                match sink {
                    Sink::File { buffer, .. } => {
                        self.writer.write(buffer, query, output);
                        buffer.push(b'\n');
                        if buffer.len() >= SINK_BUFFER_BYTES {
                            sink.flush()?;
                        }
                    }
                    Sink::Stdout => {
                        self.line.clear();
                        self.writer.write(&mut self.line, query, output);
                        let stdout = std::io::stdout();
                        let mut lock = stdout.lock();
                        let name = &query.sink.name;
                        let _ = write!(lock, "{{\"sink\":\"{name}\",\"record\":");
                        let _ = lock.write_all(self.line.as_bytes());
                        let _ = writeln!(lock, "}}");
                    }
                }
            }
        }
        for letter in dead {
            self.letter.clear();
            crate::processing_log::write_letter(
                letter,
                &engine.settings.processing_log,
                &mut self.letter,
            );
            self.letter.push(b'\n');
            let _ = self.dead.write_all(&self.letter);
        }
        Ok(())
    }

    fn flush(&mut self, _engine: &Engine) -> Result<(), RuntimeError> {
        for sink in self.sinks.values_mut() {
            sink.flush()?;
        }
        let _ = self.dead.flush();
        Ok(())
    }
}

/// Runs the queries over files to the end of their inputs.
pub fn run(
    engine: &mut Engine,
    inputs: &[Endpoint],
    outputs: &[Endpoint],
    dead_letters: Option<&Path>,
) -> Result<RunSummary, RuntimeError> {
    let source = FileSource::open(engine, inputs)?;
    let sink = FileSink::create(engine, outputs, dead_letters)?;
    let mut driver = Driver::new(source, sink, None, DriveOptions::files());
    driver.run(engine)
}

fn trim(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map(|p| p + 1)
        .unwrap_or(0);
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_are_found_where_a_byte_loop_finds_them() {
        let mut text = Vec::new();
        for i in 0..300u32 {
            text.extend(
                (0..i % 19).map(|j| [b'\n', 0x01, 0x8a, b'a', 0x0b, 0x09][(i + j) as usize % 6]),
            );
            text.push(b'\n');
        }
        for start in 0..9 {
            let mut found = Vec::new();
            find_newlines(&text[start..], start, &mut found);
            let expected: Vec<usize> = (start..text.len()).filter(|&i| text[i] == b'\n').collect();
            assert_eq!(found, expected);
        }
    }

    #[test]
    fn lines_come_back_whole_across_blocks() {
        let lines: Vec<String> = (0..500).map(|i| "x".repeat(i % 37)).collect();
        let dir = std::env::temp_dir().join(format!("advisor-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lines.txt");
        // The last line has no newline.
        std::fs::write(&path, lines.join("\n")).unwrap();
        for block in [1, 7, 64, 1 << 20] {
            let mut reader = LineReader::with_block(File::open(&path).unwrap(), block);
            let mut got = Vec::new();
            let mut ranges = Vec::new();
            while reader.next_lines(3, &mut ranges).unwrap() {
                for range in &ranges {
                    got.push(String::from_utf8(reader.bytes()[range.clone()].to_vec()).unwrap());
                }
            }
            assert_eq!(got, lines, "block of {block} bytes");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
