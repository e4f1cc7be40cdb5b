//! `advisor-engine serve`: ksqlDB's REST shapes for statements, errors, /info,
//! /healthcheck and /metrics, with the queries it creates running on a real broker.

mod common;
// Starts the engine binary, which only the engine's own tests can name.
#[path = "common/server.rs"]
mod server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Tansu;
use serde_json::{json, Value};
use server::{raw_request, request, Server};

#[test]
fn statements_run_through_the_rest_api_and_their_queries_run_on_kafka() {
    let tansu = Tansu::start();
    tansu.create_topic("clicks", 2);
    let state = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tansu, state.path());

    let (status, info) = server.request("GET", "/info", None);
    assert_eq!(status, 200);
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["KsqlServerInfo"]["serverStatus"], "RUNNING");
    assert_eq!(info["KsqlServerInfo"]["ksqlServiceId"], "rest-app");

    let (status, created) = server.ksql(
        "CREATE STREAM clicks (user_id STRING, page STRING, at BIGINT) \
           WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', TIMESTAMP='at');\n\
         CREATE TABLE pages_per_user AS SELECT user_id, COUNT(*) AS pages, COLLECT_SET(page) AS distinct_pages \
           FROM clicks GROUP BY user_id EMIT CHANGES;\n\
         CREATE TABLE clicks_per_minute AS SELECT user_id, COUNT(*) AS n FROM clicks \
           WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY user_id EMIT CHANGES;",
    );
    assert_eq!(status, 200, "{created}");
    assert_eq!(created[0]["@type"], "currentStatus");
    assert_eq!(created[0]["commandStatus"]["message"], "Stream created");
    assert_eq!(
        created[1]["commandStatus"]["queryId"],
        "CTAS_PAGES_PER_USER_0"
    );
    assert!(
        created[1]["commandSequenceNumber"].as_u64().unwrap()
            > created[0]["commandSequenceNumber"].as_u64().unwrap()
    );

    // Push queries read along from now on and stop after LIMIT rows: on a stream its new
    // records, on a table its changes as the query that builds it makes them.
    let port = server.port;
    let push = |sql: &'static str| {
        std::thread::spawn(move || request(port, "POST", "/query", Some(&json!({"ksql": sql}))))
    };
    let on_stream = push(
        "SELECT user_id, UCASE(page) AS page FROM clicks WHERE user_id = 'u0' EMIT CHANGES LIMIT 3;",
    );
    let on_table = push(
        "SELECT user_id, pages FROM pages_per_user WHERE user_id = 'u1' EMIT CHANGES LIMIT 2;",
    );
    std::thread::sleep(Duration::from_millis(1500));

    let lines: Vec<String> = (0..60)
        .map(|i| json!({"user_id": format!("u{}", i % 3), "page": format!("/p{}", i % 4), "at": 1_000 + i}).to_string())
        .collect();
    tansu.produce("clicks", &lines);
    let (status, streamed) = on_stream.join().unwrap();
    assert_eq!(status, 200, "{streamed}");
    assert_eq!(streamed.matches("\"row\"").count(), 3, "{streamed}");
    assert!(streamed.contains("[\"u0\",\"/P0\"]"), "{streamed}");
    assert!(streamed.contains("Limit Reached"), "{streamed}");
    let (status, changes) = on_table.join().unwrap();
    assert_eq!(status, 200, "{changes}");
    assert!(
        changes.contains("{\"row\":{\"columns\":[\"u1\",1]}}")
            && changes.contains("{\"row\":{\"columns\":[\"u1\",2]}}"),
        "{changes}"
    );
    assert!(changes.contains("Limit Reached"), "{changes}");
    let records = tansu.read_all("PAGES_PER_USER", 3);
    let mut last = std::collections::BTreeMap::new();
    for (key, value) in &records {
        last.insert(String::from_utf8(key.clone()).unwrap(), value.clone());
    }
    assert_eq!(last.len(), 3);
    for value in last.values() {
        assert_eq!(value["PAGES"], 20);
    }

    let (_, shown) =
        server.ksql("SHOW STREAMS; SHOW TABLES; SHOW QUERIES; DESCRIBE pages_per_user;");
    assert_eq!(shown[0]["streams"][0]["name"], "CLICKS");
    assert_eq!(shown[1]["tables"][1]["name"], "PAGES_PER_USER");
    assert_eq!(shown[2]["queries"][0]["id"], "CTAS_PAGES_PER_USER_0");
    let fields = shown[3]["sourceDescription"]["fields"].as_array().unwrap();
    assert_eq!(
        fields[0],
        json!({"name": "USER_ID", "schema": {"type": "STRING", "fields": null, "memberSchema": null}, "type": "KEY"})
    );

    let (_, metrics) = server.request("GET", "/metrics", None);
    assert!(
        metrics.contains("advisor_engine_events_in_total{query=\"CTAS_PAGES_PER_USER_0\"} 60"),
        "{metrics}"
    );
    // The engine's own share of their latency: every record read is in the histogram.
    let processed: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("advisor_engine_process_latency_seconds_count "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(processed >= 60, "{metrics}");
    assert!(metrics.contains("advisor_engine_process_latency_seconds_bucket{le=\"+Inf\"}"));
    // A record that cannot be read counts under its processing-log type, and under its
    // reason: one that is not JSON, two whose `at` is not a number.
    tansu.produce(
        "clicks",
        &[
            "{not json".to_string(),
            json!({"user_id": "u9", "page": "/x", "at": "soon"}).to_string(),
            json!({"user_id": "u9", "page": "/y", "at": [1]}).to_string(),
        ],
    );
    let by_reason = |reason: &str, n: u32| {
        format!("advisor_engine_dead_letters_by_reason_total{{query=\"CTAS_PAGES_PER_USER_0\",type=\"deserialization\",reason=\"{reason}\"}} {n}\n")
    };
    let by_type = |kind: &str| {
        format!("advisor_engine_dead_letters_by_type_total{{query=\"CTAS_PAGES_PER_USER_0\",type=\"{kind}\"}} ")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let (_, metrics) = server.request("GET", "/metrics", None);
        if metrics.contains(&format!("{}3\n", by_type("deserialization")))
            || std::time::Instant::now() > deadline
        {
            break metrics;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        metrics.contains(&format!("{}3\n", by_type("deserialization"))),
        "{metrics}"
    );
    assert!(metrics.contains(&by_reason("malformed", 1)), "{metrics}");
    assert!(metrics.contains(&by_reason("wrong_type", 2)), "{metrics}");
    assert!(
        metrics.contains(&format!("{}0\n", by_type("record_processing"))),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("{}0\n", by_type("serialization"))),
        "{metrics}"
    );
    let (status, health) = server.request("GET", "/healthcheck", None);
    assert_eq!(status, 200, "{health}");
    Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{}/healthcheck", server.port),
        ])
        .status()
        .map(|s| assert!(s.success()))
        .unwrap();

    let (status, error) = server.ksql("CREATE STREAM broken (a INT) WITH (KAFKA_TOPIC='x';");
    assert_eq!(status, 400);
    assert_eq!(error["@type"], "statement_error");
    assert_eq!(error["error_code"], 40001);
    assert!(
        error["message"].as_str().unwrap().starts_with("line 1:"),
        "{error}"
    );
    let (status, refused) = server.ksql("DROP STREAM clicks;");
    assert_eq!(status, 400);
    assert!(refused["message"]
        .as_str()
        .unwrap()
        .contains("terminate them before dropping"));
    let (status, unsupported) = server.ksql("INSERT INTO clicks VALUES ('a', 'b', 1);");
    assert_eq!(status, 400);
    assert!(unsupported["message"]
        .as_str()
        .unwrap()
        .contains("INSERT statements are not supported"));

    // A restart with the same state folder brings back the streams, tables and queries
    // (from the command log) and the tables' rows (from the saved state), and goes on.
    server.stop();
    server = Server::start(&tansu, state.path());
    let (_, shown) = server.ksql("SHOW TABLES; SHOW QUERIES;");
    assert_eq!(shown[0]["tables"].as_array().unwrap().len(), 2, "{shown}");
    assert_eq!(shown[1]["queries"][0]["id"], "CTAS_PAGES_PER_USER_0");
    // The aggregation's rows come back from their checkpoints as the group assigns the
    // partitions of its repartition topic, a few seconds after the start.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while pages_of(&server, "u0") != Some(20) {
        assert!(
            std::time::Instant::now() < deadline,
            "the restored table: {:?}",
            pages_of(&server, "u0")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // A row through /inserts-stream, as ksqlDB clients insert; a row of the wrong type is
    // refused on its own line and the others go in.
    let (status, acks) = raw_request(
        server.port,
        "POST",
        "/inserts-stream",
        "{\"target\": \"clicks\"}\n{\"user_id\": \"u0\", \"page\": \"/again\", \"at\": 5000}\n\
         {\"user_id\": \"u0\", \"at\": \"five\"}\n",
    );
    assert_eq!(status, 200, "{acks}");
    let acks: Vec<Value> = acks
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(acks[0], json!({"status": "ok", "seq": 0}));
    assert_eq!(acks[1]["status"], "error");
    assert_eq!(acks[1]["seq"], 1);
    assert!(
        acks[1]["message"].as_str().unwrap().contains("AT"),
        "{}",
        acks[1]
    );
    let (status, refused) = raw_request(
        server.port,
        "POST",
        "/inserts-stream",
        "{\"target\": \"pages_per_user\"}\n{}\n",
    );
    assert_eq!(status, 400);
    assert!(refused.contains("inserts go to streams"), "{refused}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while pages_of(&server, "u0") != Some(21) {
        assert!(
            std::time::Instant::now() < deadline,
            "the restored query did not go on counting: {:?} {:?}",
            server.request("GET", "/healthcheck", None),
            server.request("GET", "/metrics", None)
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let (status, _) = server.ksql("TERMINATE CTAS_PAGES_PER_USER_0; DROP TABLE pages_per_user;");
    assert_eq!(status, 200);
    let (status, _) =
        server.ksql("TERMINATE CTAS_CLICKS_PER_MINUTE_1; DROP TABLE clicks_per_minute;");
    assert_eq!(status, 200);
    server.stop();
    let server = Server::start(&tansu, state.path());
    let (_, shown) = server.ksql("SHOW STREAMS; SHOW TABLES;");
    assert_eq!(shown[0]["streams"][0]["name"], "CLICKS");
    assert_eq!(shown[1]["tables"], json!([]), "dropped tables stay dropped");
}

/// PAGES of one user in pages_per_user, by a pull query.
fn pages_of(server: &Server, user: &str) -> Option<i64> {
    let (status, body) = server.request(
        "POST",
        "/query",
        Some(&json!({"ksql": format!("SELECT * FROM pages_per_user WHERE user_id = '{user}';")})),
    );
    assert_eq!(status, 200, "{body}");
    let rows: Value = serde_json::from_str(&body).ok()?;
    rows.as_array()?
        .iter()
        .find_map(|entry| entry["row"]["columns"][1].as_i64())
}

/// The PyPI client ksql-python-ng (installed by scripts/test into the cache's virtualenv)
/// creates a stream and a table, lists them, and runs a pull and a push query.
#[test]
fn the_ksql_python_ng_client_works_against_the_engine() {
    use std::io::BufRead;
    let tansu = Tansu::start();
    tansu.create_topic("visits", 2);
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&tansu, state.path());
    let python = common::cached_tool("venv/bin/python", "python3");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/ksql_python_ng.py"
    );
    let mut child = Command::new(python)
        .arg(script)
        .arg(format!("http://127.0.0.1:{}", server.port))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || {
        lines
            .next()
            .expect("the client script prints a line")
            .unwrap()
    };
    assert_eq!(next(), "READY");
    let visits: Vec<String> = (0..30)
        .map(|i| {
            json!({"user_id": format!("u{}", i % 3), "page": format!("/p{i}"), "at": 1_000 + i})
                .to_string()
        })
        .collect();
    tansu.produce("visits", &visits);
    writeln!(stdin, "produced").unwrap();
    assert_eq!(next(), "PUSHING");
    tansu.produce("visits", &visits[..4]);
    let observed: Value = serde_json::from_str(&next()).unwrap();
    let _ = child.wait();

    assert_eq!(
        observed["created"],
        json!([
            "Stream created",
            "Created query with ID CTAS_VISITS_PER_USER_0"
        ])
    );
    assert_eq!(observed["streams"], json!(["VISITS"]));
    assert_eq!(observed["tables"], json!(["VISITS_PER_USER"]));
    assert_eq!(observed["pull"][1]["row"]["columns"], json!(["u1", 10]));
    assert_eq!(
        observed["pull_http2"][0]["columnNames"],
        json!(["USER_ID", "VISITS"])
    );
    assert_eq!(observed["pull_http2"][1], json!(["u2", 10]));
    assert_eq!(observed["closed"], true);
    assert_eq!(observed["after_close"], "");
    let push = observed["push"]
        .as_array()
        .expect("the push query returned");
    assert_eq!(push.len(), 4, "header, two rows, final message: {push:?}");
    assert_eq!(push[3]["finalMessage"], "Limit Reached");
    assert_eq!(push[1]["row"]["columns"].as_array().unwrap().len(), 2);
}

/// Pull queries by key (and by key with WINDOWSTART bounds) and push queries on a
/// session-windowed table, and the rows an OVER window and a stream-stream join's buffers
/// hold in /metrics.
#[test]
fn session_tables_answer_pull_and_push_queries_and_over_windows_report_their_rows() {
    let tansu = Tansu::start();
    tansu.create_topic("clickstream-events", 1);
    tansu.create_topic("purchase-events", 1);
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&tansu, state.path());
    let (status, created) = server.ksql(
        "CREATE STREAM clickstream (user_id STRING, page_url STRING, event_time BIGINT) \
           WITH (KAFKA_TOPIC='clickstream-events', VALUE_FORMAT='JSON', TIMESTAMP='event_time');\n\
         CREATE TABLE user_sessions AS SELECT user_id, COUNT(*) AS event_count, \
           COLLECT_LIST(page_url) AS pages_visited FROM clickstream \
           WINDOW SESSION (30 MINUTES) GROUP BY user_id EMIT CHANGES;\n\
         CREATE STREAM recent_clicks AS SELECT user_id, COUNT(*) OVER (PARTITION BY user_id \
           ORDER BY ROWTIME RANGE BETWEEN INTERVAL '10' MINUTE PRECEDING AND CURRENT ROW) AS recent \
           FROM clickstream;\n\
         CREATE STREAM purchases (user_id STRING, amount DOUBLE, event_time BIGINT) \
           WITH (KAFKA_TOPIC='purchase-events', VALUE_FORMAT='JSON', TIMESTAMP='event_time');\n\
         CREATE STREAM click_purchases AS SELECT c.user_id AS user_id, c.page_url, p.amount \
           FROM clickstream c JOIN purchases p WITHIN 1 HOURS ON c.user_id = p.user_id;",
    );
    assert_eq!(status, 200, "{created}");
    let port = server.port;
    let push = std::thread::spawn(move || {
        request(
            port,
            "POST",
            "/query",
            Some(
                &json!({"ksql": "SELECT * FROM user_sessions WHERE user_id = 'u1' EMIT CHANGES LIMIT 3;"}),
            ),
        )
    });
    std::thread::sleep(Duration::from_millis(1500));
    let minute = 60_000i64;
    let t = 1_709_640_000_000i64;
    // u1: a session of two clicks, then one an hour later; u2: one click.
    let clicks = [
        ("u1", "/a", t),
        ("u1", "/b", t + 10 * minute),
        ("u2", "/x", t + 20 * minute),
        ("u1", "/c", t + 70 * minute),
    ];
    let lines: Vec<String> = clicks
        .iter()
        .map(|(u, p, at)| json!({"user_id": u, "page_url": p, "event_time": at}).to_string())
        .collect();
    tansu.produce("clickstream-events", &lines);
    let (status, changes) = push.join().unwrap();
    assert_eq!(status, 200, "{changes}");
    // [t, t] then its tombstone is no row; then [t, t + 10 min] with two clicks.
    assert!(
        changes.contains(&format!("[\"u1\",{t},{t},1,[\"/a\"]]")),
        "{changes}"
    );
    assert!(
        changes.contains(&format!(
            "[\"u1\",{t},{},2,[\"/a\",\"/b\"]]",
            t + 10 * minute
        )),
        "{changes}"
    );

    let pull = |sql: &str, expected: usize| -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = request(port, "POST", "/query", Some(&json!({"ksql": sql})));
            assert_eq!(status, 200, "{body}");
            let rows: Vec<Value> = serde_json::from_str::<Vec<Value>>(&body)
                .unwrap()
                .into_iter()
                .filter_map(|r| r.get("row").map(|row| row["columns"].clone()))
                .collect();
            if rows.len() >= expected || std::time::Instant::now() > deadline {
                return rows;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    let both = pull("SELECT * FROM user_sessions WHERE user_id = 'u1';", 2);
    assert_eq!(
        both,
        vec![
            json!(["u1", t, t + 10 * minute, 2, ["/a", "/b"]]),
            json!(["u1", t + 70 * minute, t + 70 * minute, 1, ["/c"]]),
        ]
    );
    let later = pull(
        &format!(
            "SELECT * FROM user_sessions WHERE user_id = 'u1' AND WINDOWSTART >= {};",
            t + minute
        ),
        1,
    );
    assert_eq!(
        later,
        vec![json!(["u1", t + 70 * minute, t + 70 * minute, 1, ["/c"]])]
    );

    // The OVER window holds the newest click until a later one moves the watermark.
    let (_, metrics) = server.request("GET", "/metrics", None);
    let held = metrics
        .lines()
        .find(|l| l.starts_with("advisor_engine_state_rows{query=\"CSAS_RECENT_CLICKS_1\"}"))
        .unwrap_or_else(|| panic!("{metrics}"));
    let rows: u64 = held.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(rows >= 1, "{held}");

    // No purchase came: the join buffers the clicks until WITHIN and its grace pass, and
    // says so (they reach it through the join's repartition topic).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let buffered = loop {
        let (_, metrics) = server.request("GET", "/metrics", None);
        let rows = metrics
            .lines()
            .find(|l| l.starts_with("advisor_engine_state_rows{query=\"CSAS_CLICK_PURCHASES_2\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0);
        if rows >= 4 || std::time::Instant::now() > deadline {
            break (rows, metrics);
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(buffered.0 >= 4, "{}", buffered.1);
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// One sample of /metrics, without labels.
fn metric(server: &Server, name: &str) -> u64 {
    let (_, metrics) = server.request("GET", "/metrics", None);
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
}

/// A push client that stops reading is closed once it falls 4 MiB of rows behind, as
/// ksqlDB's scalable push queries end one whose queue overflows, rather than holding ever
/// more of the engine's memory; the push queries of the clients that read get every row.
#[test]
fn a_push_client_that_stops_reading_is_closed_and_the_others_get_their_rows() {
    const RECORDS: usize = 12_000;
    const PAD: usize = 10_000;
    const MB: u64 = 1 << 20;
    let tansu = Tansu::start();
    tansu.create_topic("wide", 1);
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&tansu, state.path());
    let (status, created) = server.ksql(
        "CREATE STREAM wide (id BIGINT, pad STRING) WITH (KAFKA_TOPIC='wide', VALUE_FORMAT='JSON');",
    );
    assert_eq!(status, 200, "{created}");

    // The slow client asks for the wide rows, reads the header and then nothing.
    let mut slow = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let body = json!({"ksql": "SELECT * FROM wide EMIT CHANGES;"}).to_string();
    write!(
        slow,
        "POST /query HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/vnd.ksql.v1+json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut head = [0u8; 256];
    assert!(slow.read(&mut head).unwrap() > 0);
    // Two clients that read: a stream of the ids, and a LIMIT on the /query-stream form.
    let port = server.port;
    let ids = std::thread::spawn(move || {
        let sql = format!("SELECT id FROM wide EMIT CHANGES LIMIT {RECORDS};");
        request(port, "POST", "/query", Some(&json!({ "ksql": sql })))
    });
    let firsts = std::thread::spawn(move || {
        let sql = "SELECT id FROM wide WHERE id < 10 EMIT CHANGES LIMIT 10;";
        request(port, "POST", "/query-stream", Some(&json!({ "ksql": sql })))
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&server, "advisor_engine_push_queries") < 3 {
        assert!(Instant::now() < deadline, "the push queries never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let idle_rss = rss_bytes(server.pid());

    let pad = "x".repeat(PAD);
    let values: Vec<String> = (0..RECORDS)
        .map(|id| json!({"id": id, "pad": pad}).to_string())
        .collect();
    let bootstrap = tansu.bootstrap.clone();
    let producer = std::thread::spawn(move || Tansu::at(&bootstrap).produce("wide", &values));
    let (mut peak_rss, mut peak_queued) = (idle_rss, 0);
    while !ids.is_finished() {
        assert!(
            Instant::now() < deadline + Duration::from_secs(120),
            "the ids never all came"
        );
        peak_rss = peak_rss.max(rss_bytes(server.pid()));
        peak_queued = peak_queued.max(metric(&server, "advisor_engine_push_queued_bytes"));
        std::thread::sleep(Duration::from_millis(50));
    }
    producer.join().unwrap();
    let (status, streamed) = ids.join().unwrap();
    assert_eq!(status, 200);
    let rows = streamed.matches("{\"row\":").count();
    assert_eq!(
        rows,
        RECORDS,
        "{}",
        &streamed[streamed.len().saturating_sub(300)..]
    );
    assert!(streamed.ends_with("{\"finalMessage\":\"Limit Reached\"}]"));
    let (status, firsts) = firsts.join().unwrap();
    assert_eq!(status, 200);
    assert_eq!(firsts.lines().count(), 11, "{firsts}");

    let input = (RECORDS * PAD) as u64;
    eprintln!(
        "{} MB through, RSS {} MB -> peak {} MB, at most {} KB queued",
        input / MB,
        idle_rss / MB,
        peak_rss / MB,
        peak_queued >> 10
    );
    // The slow client's 4 MiB, the consumer's prefetch (16 MB) and the allocator's slack:
    // far from the 115 MB an unbounded queue would hold for it.
    assert!(
        peak_rss < idle_rss + 64 * MB,
        "RSS {} MB -> {} MB",
        idle_rss / MB,
        peak_rss / MB
    );
    assert!(peak_queued <= 4 * MB + 2 * PAD as u64, "{peak_queued}");
    assert_eq!(
        metric(&server, "advisor_engine_push_slow_clients_closed_total"),
        1
    );

    // What the slow client finds when it reads again: the rows it was sent, then the error.
    let mut rest = Vec::new();
    slow.read_to_end(&mut rest).unwrap();
    let rest = String::from_utf8_lossy(&rest);
    let sent = rest.matches("{\"row\":").count();
    assert!(sent > 0 && sent < RECORDS, "{sent} rows");
    assert!(
        rest.ends_with("bytes of rows behind\"}}]"),
        "{}",
        &rest[rest.len().saturating_sub(300)..]
    );
}
