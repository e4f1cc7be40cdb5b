//! A stack's logs from CloudWatch Logs, interleaved by time with the service in front, as
//! `aws logs tail` does. Every service of a stack logs to `/ecs/NAME`, in streams named
//! `CONTAINER/CONTAINER/TASK_ID` (the awslogs stream prefix is the container's name).

use std::collections::BTreeSet;

use serde::Serialize;

use super::clients::Clients;
use super::error::{classify, code_of, AwsError};

/// One log line of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEvent {
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The StackSpec's name of the service (its container), e.g. `ksqldb-server`.
    pub service: String,
    pub stream: String,
    pub message: String,
    #[serde(skip)]
    pub id: String,
}

/// What to read.
#[derive(Debug, Clone)]
pub struct Query {
    pub log_group: String,
    /// The services to show, by container name; a stream of another service is dropped.
    pub services: Vec<String>,
    /// When exactly one service is asked for, the stream prefix that narrows the read.
    pub stream_prefix: Option<String>,
    /// A CloudWatch Logs filter pattern (a term, or a quoted phrase).
    pub filter: Option<String>,
}

/// The service a stream belongs to: its first path segment is the container's name.
pub fn service_of<'a>(stream: &str, services: &'a [String]) -> Option<&'a str> {
    let prefix = stream.split('/').next()?;
    services
        .iter()
        .find(|s| s.as_str() == prefix)
        .map(String::as_str)
}

/// Events from `start_ms` on, oldest first, across every page.
pub async fn read(
    clients: &Clients,
    query: &Query,
    start_ms: i64,
) -> Result<Vec<LogEvent>, AwsError> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let response = clients
            .logs
            .filter_log_events()
            .log_group_name(&query.log_group)
            .start_time(start_ms)
            .set_log_stream_name_prefix(query.stream_prefix.clone())
            .set_filter_pattern(query.filter.clone())
            .set_next_token(token.clone())
            .send()
            .await;
        let page = match response {
            Ok(page) => page,
            Err(e) if code_of(&e) == "ResourceNotFoundException" => {
                return Err(AwsError::Invalid(format!(
                    "log group {} does not exist: is the stack deployed (`advisor deploy`) in this region?",
                    query.log_group
                )))
            }
            Err(e) => {
                return Err(classify(
                    format!("read the log events of {}", query.log_group),
                    e,
                ))
            }
        };
        for event in page.events() {
            let stream = event.log_stream_name().unwrap_or_default();
            let Some(service) = service_of(stream, &query.services) else {
                continue;
            };
            events.push(LogEvent {
                timestamp: event.timestamp().unwrap_or_default(),
                service: service.to_string(),
                stream: stream.to_string(),
                message: event.message().unwrap_or_default().trim_end().to_string(),
                id: event.event_id().unwrap_or_default().to_string(),
            });
        }
        let next = page.next_token().map(str::to_string);
        // An unchanged token means the end (CloudWatch repeats it when nothing follows).
        if next.is_none() || next == token {
            break;
        }
        token = next;
    }
    interleave(&mut events);
    Ok(events)
}

/// Oldest first; events of one millisecond keep a stable order by stream and id.
pub fn interleave(events: &mut [LogEvent]) {
    events.sort_by(|a, b| (a.timestamp, &a.stream, &a.id).cmp(&(b.timestamp, &b.stream, &b.id)));
}

/// What `--follow` has already printed: it asks again from the newest timestamp seen, and
/// drops the events of that millisecond it already showed.
#[derive(Debug, Default)]
pub struct Seen {
    newest: i64,
    at_newest: BTreeSet<(String, String)>,
}

impl Seen {
    /// Where the next poll starts.
    pub fn resume_from(&self, start_ms: i64) -> i64 {
        self.newest.max(start_ms)
    }

    /// The events not shown yet, in order; remembers them.
    pub fn fresh(&mut self, events: Vec<LogEvent>) -> Vec<LogEvent> {
        let mut out = Vec::new();
        for event in events {
            let key = (event.stream.clone(), event.id.clone());
            if event.timestamp < self.newest
                || (event.timestamp == self.newest && self.at_newest.contains(&key))
            {
                continue;
            }
            if event.timestamp > self.newest {
                self.newest = event.timestamp;
                self.at_newest.clear();
            }
            self.at_newest.insert(key);
            out.push(event);
        }
        out
    }
}

/// `2026-12-01T09:30:00.123Z`: UTC with milliseconds, as `aws logs tail` prints.
pub fn format_time(timestamp_ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(timestamp_ms) {
        Ok(time) => time.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => timestamp_ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(timestamp: i64, stream: &str, id: &str) -> LogEvent {
        LogEvent {
            timestamp,
            service: stream.split('/').next().unwrap_or_default().to_string(),
            stream: stream.to_string(),
            message: format!("line {id}"),
            id: id.to_string(),
        }
    }

    #[test]
    fn streams_map_to_their_service_by_prefix() {
        let services = vec!["jobmanager".to_string(), "taskmanager".to_string()];
        assert_eq!(
            service_of("taskmanager/taskmanager/0a1b2c", &services),
            Some("taskmanager")
        );
        assert_eq!(service_of("other/x/1", &services), None);
        assert_eq!(service_of("jobmanagerx/x/1", &services), None);
    }

    #[test]
    fn events_interleave_by_time_across_streams() {
        let mut events = vec![
            event(30, "b/b/1", "3"),
            event(10, "a/a/1", "1"),
            event(20, "b/b/1", "2"),
        ];
        interleave(&mut events);
        let order: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(order, ["1", "2", "3"]);
    }

    #[test]
    fn follow_shows_each_event_once() {
        let mut seen = Seen::default();
        let first = seen.fresh(vec![event(10, "a/a/1", "1"), event(20, "a/a/1", "2")]);
        assert_eq!(first.len(), 2);
        assert_eq!(seen.resume_from(0), 20);
        // The next poll starts at 20 and sees event 2 again, plus a new one at 20 and one later.
        let second = seen.fresh(vec![
            event(20, "a/a/1", "2"),
            event(20, "b/b/1", "2b"),
            event(25, "a/a/1", "3"),
        ]);
        let ids: Vec<&str> = second.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["2b", "3"]);
        assert_eq!(seen.resume_from(0), 25);
        assert!(seen.fresh(vec![event(25, "a/a/1", "3")]).is_empty());
    }

    #[test]
    fn times_print_in_utc_with_milliseconds() {
        assert_eq!(format_time(1_764_581_400_123), "2025-12-01T09:30:00.123Z");
    }
}
